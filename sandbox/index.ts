export {
  CARRIER_NAME,
  SandboxCarrier,
  type Parcel,
  type RecordedCarrierEvent,
  type SandboxCarrierOptions,
} from './carrier';
export { ProviderRefusedError, ProviderUnavailableError, type FaultSettings } from './common';
export {
  DECLINE_TOKENS,
  SandboxPaymentGateway,
  type PaymentOperation,
  type SandboxPayment,
  type SandboxPaymentGatewayOptions,
} from './payment-gateway';
export { SIGNATURE_HEADER, signPayload, verifySignature } from './signing';
export type { DeliveryOutcome, DeliveryStatus, WebhookSettings } from './webhooks';
