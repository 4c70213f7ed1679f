import type {
  InspectionLine,
  ReturnClaim,
  ReturnDecisionView,
  ReturnInput,
  ReturnOutcome,
  ReturnParcelView,
  ReturnStatus,
  ReturnView,
  ReturnWaitingOn,
} from '../domain/return';
import { isReturnTerminal, returnApprover } from '../domain/return';
import type { RefundStatus } from '../domain/refund';
import { CaseState } from './case/state';

/** The deterministic state of one return on top of what every case holds. It performs no I/O. */
export class ReturnCase extends CaseState<ReturnStatus> {
  readonly approver: 'system' | 'agent';
  decision?: ReturnDecisionView;
  claim?: ReturnClaim;
  readonly parcels: ReturnParcelView[] = [];
  receivedAt?: string;
  receivedBy?: string;
  inspection?: { lines: InspectionLine[]; actor: string; at: string };
  refund?: { refundId: string; amount: number; status: RefundStatus };
  outcome?: ReturnOutcome;
  rejectReason?: string;
  /** Set once the lines are claimed or refused: the request has its answer. */
  taken = false;
  /** Waybills a carrier webhook mentioned since they were last read. */
  readonly carrierHints = new Set<string>();
  /** Tracking events already applied. */
  readonly seenEvents = new Set<string>();

  constructor(readonly input: ReturnInput) {
    super('REQUESTED', new Date(input.requestedAt));
    this.approver = returnApprover(input.reason, input.policy);
  }

  /** The parcel taking the goods back to the warehouse, once booked. */
  get returnParcel(): ReturnParcelView | undefined {
    return this.parcels.find((p) => p.purpose === 'return');
  }

  parcelByWaybill(waybill: string): ReturnParcelView | undefined {
    return this.parcels.find((p) => p.waybill === waybill);
  }

  /** Whom the return waits for now: what ops filter on to find returns stuck at the customer, carrier or warehouse. */
  waitingOn(): ReturnWaitingOn {
    if (isReturnTerminal(this.status)) return 'none';
    const parcel = this.returnParcel;
    switch (this.status) {
      case 'PENDING_APPROVAL':
        return 'agent';
      case 'APPROVED':
        if (!parcel) return 'carrier';
        return parcel.method === 'label' ? 'customer' : 'carrier';
      case 'IN_TRANSIT':
        if (this.attention.has('return_parcel_lost')) return 'agent';
        return parcel?.status === 'DELIVERED' ? 'warehouse' : 'carrier';
      case 'RECEIVED':
        return 'warehouse';
      case 'INSPECTED':
        return this.parcels.some((p) => p.purpose === 'replacement') ? 'carrier' : 'refund';
      default:
        return 'none';
    }
  }

  view(): ReturnView {
    const { input } = this;
    return {
      returnId: input.returnId,
      orderId: input.orderId,
      customerId: input.customerId,
      status: this.status,
      currency: input.currency,
      lines: input.lines.map((l) => ({ ...l })),
      reason: input.reason,
      type: input.type,
      method: input.method,
      failedGoods: input.failedGoods,
      evidence: input.evidence && { ...input.evidence, photos: input.evidence.photos && [...input.evidence.photos] },
      requestedBy: { ...input.requestedBy },
      requestedAt: input.requestedAt,
      approver: this.approver,
      decision: this.decision && { ...this.decision, actor: { ...this.decision.actor } },
      waitingOn: this.waitingOn(),
      parcels: this.parcels.map((p) => ({ ...p })),
      receivedAt: this.receivedAt,
      receivedBy: this.receivedBy,
      inspection: this.inspection && { ...this.inspection, lines: this.inspection.lines.map((l) => ({ ...l })) },
      refund: this.refund && { ...this.refund },
      outcome: this.outcome,
      rejectReason: this.rejectReason,
      escalationLevel: this.escalationLevel,
      ...this.baseView(),
    };
  }
}
