/** Who may act, from the authenticated principal only (DESIGN §4). */
export const ROLES = ['system', 'agent', 'supervisor', 'warehouse', 'finance', 'ops', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  principal: string;
  role: Role;
}

/** Staff who decide on orders held for review. */
export const ORDER_REVIEWER_ROLES: readonly Role[] = ['agent', 'supervisor', 'admin'];
/** Staff who retry or give up a step that failed for good, on any case type. */
export const RECOVERY_ROLES: readonly Role[] = ['ops', 'admin'];
/** Staff who approve or reject refunds; the amount decides which of them may (see `refundApprovalRefusal`). */
export const REFUND_APPROVER_ROLES: readonly Role[] = ['agent', 'supervisor', 'admin'];
/** Roles that approve refunds of any amount. */
export const REFUND_SENIOR_ROLES: readonly Role[] = ['supervisor', 'admin'];
/** Finance settles and refunds (SEC-2a): they, and ops, retry or re-route a refund the gateway refused. */
export const REFUND_RETRY_ROLES: readonly Role[] = ['finance', 'ops', 'admin'];
/** Staff who approve or reject returns, and refund a return whose parcel the carrier lost. */
export const RETURN_APPROVER_ROLES: readonly Role[] = ['agent', 'supervisor', 'admin'];
/** The warehouse records receipt and inspection of returned goods. */
export const WAREHOUSE_ROLES: readonly Role[] = ['warehouse', 'admin'];
/**
 * Staff who work complaints: respond, change priority and resolve (agents only on the complaints assigned to them), and
 * note on any complaint (a colleague's context helps whoever holds it).
 */
export const COMPLAINT_STAFF_ROLES: readonly Role[] = ['agent', 'supervisor', 'admin'];
/** Supervisors reassign complaints and maintain teams, agents and duty. */
export const COMPLAINT_SUPERVISOR_ROLES: readonly Role[] = ['supervisor', 'admin'];
/**
 * The customer's side of a complaint (a message, accepting or disputing a resolution, the rating, reopening): the
 * upstream system on the customer's behalf, or staff recording what the customer said on the phone.
 */
export const COMPLAINT_CUSTOMER_ROLES: readonly Role[] = ['system', 'agent', 'supervisor', 'admin'];
