import { ParentClosePolicy, startChild, type ChildWorkflowHandle } from '@temporalio/workflow';
import type { CaseType } from '../domain/case';
import type { RefundInput } from '../domain/refund';
import type { ReturnInput } from '../domain/return';
import type { refundWorkflow, returnWorkflow } from './index';
import { refundWorkflowId } from './refund-messages';
import { returnWorkflowId } from './return-messages';
import { CaseTypeKey, CustomerIdKey } from './search-attributes';

/**
 * Starts a case on behalf of another (a refund for an order's cancel or a return's goods, a refund or return that
 * resolves a complaint). The child outlives its starter: it runs on when the starter ends, and ops find it like any
 * other case of its type.
 */
function startCase<W extends typeof refundWorkflow | typeof returnWorkflow>(
  workflowType: 'refundWorkflow' | 'returnWorkflow',
  caseType: CaseType,
  workflowId: string,
  input: Parameters<W>[0] & { customerId: string },
): Promise<ChildWorkflowHandle<W>> {
  return startChild<W>(workflowType, {
    workflowId,
    args: [input] as Parameters<W>,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: CaseTypeKey, value: caseType },
      { key: CustomerIdKey, value: input.customerId },
    ],
  });
}

export const startRefundCase = (input: RefundInput): Promise<ChildWorkflowHandle<typeof refundWorkflow>> =>
  startCase<typeof refundWorkflow>('refundWorkflow', 'refund', refundWorkflowId(input.refundId), input);

export const startReturnCase = (input: ReturnInput): Promise<ChildWorkflowHandle<typeof returnWorkflow>> =>
  startCase<typeof returnWorkflow>('returnWorkflow', 'return', returnWorkflowId(input.returnId), input);
