import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Actor } from '../domain/case';
import type { CaseDecision } from './case/decision';
import type { InspectionLine, ReturnView } from '../domain/return';

/** Messages of the return workflow, shared by the workflow and every client (API, tests). */

export const returnWorkflowId = (returnId: string): string => `return-${returnId}`;

export type ReturnDecision = CaseDecision;
/** An agent's decision on a return waiting for approval (quality, damage and other claims the system does not take). */
export const decideReturnUpdate = defineUpdate<ReturnView, [ReturnDecision]>('decideReturn');

/** The warehouse has the parcel in hand; answered once RECEIVED is stored. */
export const receiveReturnUpdate = defineUpdate<ReturnView, [{ actor: Actor; note?: string }]>('receiveReturn');

/** The warehouse's verdict per returned line; answered once INSPECTED is stored (restock, refund or replacement follow). */
export const inspectReturnUpdate = defineUpdate<ReturnView, [{ actor: Actor; lines: InspectionLine[] }]>(
  'inspectReturn',
);

/** An agent refunds a return whose parcel the carrier lost, without the goods ever arriving. */
export const refundLostReturnUpdate = defineUpdate<ReturnView, [{ actor: Actor; reason: string }]>('refundLostReturn');

/** Completes once the return's lines are claimed (or refused); the API answers the request with it. */
export const awaitReturnRequestUpdate = defineUpdate<ReturnView>('awaitReturnRequest');

export const returnStateQuery = defineQuery<ReturnView>('returnState');
