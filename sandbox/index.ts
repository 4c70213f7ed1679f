export {
  CARRIER_NAME,
  SandboxCarrier,
  type Parcel,
  type RecordedCarrierEvent,
  type SandboxCarrierOptions,
} from './carrier';
export { ProviderRefusedError, ProviderUnavailableError, type FaultSettings } from './common';
export {
  DEFERRED_RECIPIENT_DOMAIN,
  MAILBOX_MAX_MESSAGE_BYTES,
  type MailboxMessage,
  type MailboxQuery,
  normalizeMessageId,
  REFUSED_RECIPIENT_DOMAIN,
  SandboxMailbox,
  type SandboxMailboxOptions,
} from './mailbox';
export {
  type MessageQuery,
  type PushRequest,
  SandboxPush,
  type SandboxPushMessage,
  type SandboxMessagingOptions,
  SandboxSms,
  type SandboxSmsMessage,
  type SentMessage,
  SMS_MAX_LENGTH,
  type SmsRequest,
  UNREACHABLE_NUMBERS,
  UNREGISTERED_PUSH_RECIPIENTS,
} from './messaging';
export {
  DECLINE_TOKENS,
  SandboxPaymentGateway,
  type PaymentOperation,
  type SandboxPayment,
  type SandboxPaymentGatewayOptions,
} from './payment-gateway';
export { SIGNATURE_HEADER, signPayload, verifySignature } from './signing';
export type { DeliveryOutcome, DeliveryStatus, WebhookSettings } from './webhooks';
