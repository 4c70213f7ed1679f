import type {
  RefundApprover,
  RefundAttemptView,
  RefundChannel,
  RefundDecisionView,
  RefundInput,
  RefundStatus,
  RefundView,
} from '../domain/refund';
import { refundApprover } from '../domain/refund';
import type { PaymentMethod } from '../domain/order';
import { CaseState } from './case/state';

/** The deterministic state of one refund on top of what every case holds. It performs no I/O. */
export class RefundCase extends CaseState<RefundStatus> {
  readonly approver: RefundApprover;
  decision?: RefundDecisionView;
  paymentId?: string;
  paymentMethod?: PaymentMethod;
  channel: RefundChannel = 'original';
  providerRefundId?: string;
  readonly attempts: RefundAttemptView[] = [];
  rejectReason?: string;
  /** Set once the amount is claimed or refused: the request has its answer. */
  taken = false;

  constructor(readonly input: RefundInput) {
    super('REQUESTED', new Date(input.requestedAt));
    this.approver = refundApprover(input.amount, input.reason, input.policy);
  }

  view(): RefundView {
    const { input } = this;
    return {
      refundId: input.refundId,
      orderId: input.orderId,
      customerId: input.customerId,
      status: this.status,
      amount: input.amount,
      currency: input.currency,
      reason: input.reason,
      note: input.note,
      lines: input.lines?.map((l) => ({ ...l })),
      includeShipping: input.includeShipping,
      origin: input.origin,
      requestedBy: { ...input.requestedBy },
      requestedAt: input.requestedAt,
      approver: this.approver,
      decision: this.decision && { ...this.decision, actor: { ...this.decision.actor } },
      paymentId: this.paymentId,
      paymentMethod: this.paymentMethod,
      channel: this.channel,
      providerRefundId: this.providerRefundId,
      attempts: this.attempts.map((a) => ({ ...a })),
      rejectReason: this.rejectReason,
      escalationLevel: this.escalationLevel,
      ...this.baseView(),
    };
  }
}
