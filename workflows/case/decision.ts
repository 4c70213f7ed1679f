import type { Actor } from '../../domain/case';
import { reject } from './core';
import { CASE_ERRORS } from './messages';

/** A person's approve-or-reject on a case waiting for one (a refund, a return). */
export interface CaseDecision {
  decision: 'approve' | 'reject';
  /** Required to reject. */
  reason?: string;
  /** Names the decision: the same one sent again (a client retry) changes nothing and gets the case back. */
  decisionId: string;
  actor: Actor;
}

/**
 * The state rules of a decision, for an update validator (the role rules are the case type's): the same decision sent
 * again passes and is answered unchanged, the opposite one is a conflict, a case no longer awaiting one refuses it, and
 * a rejection needs a reason.
 */
export function checkDecision(
  request: CaseDecision,
  made: Pick<CaseDecision, 'decision' | 'decisionId'> | undefined,
  awaiting: { now: boolean; status: string; noun: string },
): void {
  if (made) {
    if (made.decisionId === request.decisionId || made.decision === request.decision) return;
    reject(
      CASE_ERRORS.wrongState,
      `the ${awaiting.noun} was already ${made.decision === 'approve' ? 'approved' : 'rejected'}`,
    );
  }
  if (!awaiting.now)
    reject(CASE_ERRORS.wrongState, `the ${awaiting.noun} is ${awaiting.status}, not awaiting approval`);
  if (request.decision === 'reject' && !request.reason?.trim()) {
    reject(CASE_ERRORS.ruleViolation, 'a rejection needs a reason');
  }
}
