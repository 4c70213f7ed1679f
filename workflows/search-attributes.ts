import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes ops use in the Temporal UI; registered on the dev server at start-up. */
export const OrderStatusKey = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
export const CaseTypeKey = defineSearchAttributeKey('CaseType', SearchAttributeType.KEYWORD);
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const ChannelKey = defineSearchAttributeKey('Channel', SearchAttributeType.KEYWORD);
export const PaymentMethodKey = defineSearchAttributeKey('PaymentMethod', SearchAttributeType.KEYWORD);
export const NeedsAttentionKey = defineSearchAttributeKey('NeedsAttention', SearchAttributeType.BOOL);
export const AttentionReasonKey = defineSearchAttributeKey('AttentionReason', SearchAttributeType.KEYWORD);
export const SlaDeadlineKey = defineSearchAttributeKey('SlaDeadline', SearchAttributeType.DATETIME);
/** The status of any case type, so one query spans orders, refunds, returns and complaints. */
export const CaseStatusKey = defineSearchAttributeKey('CaseStatus', SearchAttributeType.KEYWORD);
/** When the case entered its current status; empty once it has ended. */
export const AwaitingSinceKey = defineSearchAttributeKey('AwaitingSince', SearchAttributeType.DATETIME);
/** How often the case's current SLA was breached and escalated. */
export const EscalationLevelKey = defineSearchAttributeKey('EscalationLevel', SearchAttributeType.INT);
/** Whom an open case waits for (`customer`, `carrier`, `warehouse`, `agent`, `refund`); empty once it has ended. */
export const WaitingOnKey = defineSearchAttributeKey('WaitingOn', SearchAttributeType.KEYWORD);
/** The agent an open complaint is assigned to. */
export const AssigneeKey = defineSearchAttributeKey('Assignee', SearchAttributeType.KEYWORD);
export const OrderTotalKey = defineSearchAttributeKey('OrderTotal', SearchAttributeType.INT);

export const SEARCH_ATTRIBUTES = [
  OrderStatusKey,
  CaseTypeKey,
  CustomerIdKey,
  ChannelKey,
  PaymentMethodKey,
  NeedsAttentionKey,
  AttentionReasonKey,
  SlaDeadlineKey,
  OrderTotalKey,
  CaseStatusKey,
  AwaitingSinceKey,
  EscalationLevelKey,
  WaitingOnKey,
  AssigneeKey,
] as const;
