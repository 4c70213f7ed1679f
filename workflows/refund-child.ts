import { ParentClosePolicy, startChild, type ChildWorkflowHandle } from '@temporalio/workflow';
import type { RefundInput } from '../domain/refund';
import type { refundWorkflow } from './refund';
import { refundWorkflowId } from './refund-messages';
import { CaseTypeKey, CustomerIdKey } from './search-attributes';

/**
 * Starts a refund case on behalf of another case (an order's cancel, a return's goods). The refund outlives its
 * starter: it runs on when the starter ends, and ops find it like any other refund.
 */
export function startRefundCase(input: RefundInput): Promise<ChildWorkflowHandle<typeof refundWorkflow>> {
  return startChild<typeof refundWorkflow>('refundWorkflow', {
    workflowId: refundWorkflowId(input.refundId),
    args: [input],
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: CaseTypeKey, value: 'refund' },
      { key: CustomerIdKey, value: input.customerId },
    ],
  });
}
