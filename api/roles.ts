import {
  COMPLAINT_STAFF_ROLES,
  COMPLAINT_SUPERVISOR_ROLES,
  REFUND_APPROVER_ROLES,
  RETURN_APPROVER_ROLES,
  type Role,
} from '../domain/roles';

/**
 * Who may call which route, where the domain has no list of its own (it holds the ones its rules check: reviewers,
 * refund approvers, retriers, recovery). One place, so a route's roles are read and reviewed together.
 */

export const STAFF: readonly Role[] = ['agent', 'supervisor', 'ops', 'admin'];

/** Upstream systems place orders for customers; agents and admins on a customer's behalf. */
export const ORDER_PLACER_ROLES: readonly Role[] = ['system', 'agent', 'admin'];
export const ORDER_READER_ROLES: readonly Role[] = [...STAFF, 'system', 'warehouse', 'finance'];
export const ORDER_LIST_ROLES: readonly Role[] = [...STAFF, 'system', 'finance'];
export const ORDER_CANCEL_ROLES: readonly Role[] = ['system', ...STAFF];
/** What the customer does (pay again, edit, move the address, confirm receipt), through the shop or an agent. */
export const CUSTOMER_ACTOR_ROLES: readonly Role[] = ['system', 'agent'];

/** The customer through the shop, or staff who may decide on refunds (they still cannot approve their own). */
export const REFUND_REQUESTER_ROLES: readonly Role[] = ['system', ...REFUND_APPROVER_ROLES];
export const REFUND_READER_ROLES: readonly Role[] = [...STAFF, 'system', 'finance'];
/** The queue of refunds is staff work; the shop reads the refunds it asked for one by one. */
export const REFUND_QUEUE_ROLES: readonly Role[] = [...STAFF, 'finance'];

/** The customer through the shop, or staff who may decide on returns (they still cannot approve their own). */
export const RETURN_REQUESTER_ROLES: readonly Role[] = ['system', ...RETURN_APPROVER_ROLES];
/** The warehouse reads the returns it receives and inspects, finance the ones that end in a refund. */
export const RETURN_READER_ROLES: readonly Role[] = [...STAFF, 'system', 'warehouse', 'finance'];
/** The queue of returns is staff and warehouse work; the shop reads the returns it asked for one by one. */
export const RETURN_QUEUE_ROLES: readonly Role[] = [...STAFF, 'warehouse'];

/** The customer's complaint through the upstream system, or staff taking it down (on the phone, say). */
export const COMPLAINT_OPENER_ROLES: readonly Role[] = ['system', ...COMPLAINT_STAFF_ROLES];
/** The shop reads the complaints it opened one by one; staff read them all. */
export const COMPLAINT_READER_ROLES: readonly Role[] = [...STAFF, 'system'];
/** The queue of complaints is staff work. */
export const COMPLAINT_QUEUE_ROLES: readonly Role[] = STAFF;
/** Teams and agents are maintained by supervisors; every member of staff may see who is on which team and on duty. */
export const COMPLAINT_STAFFING_ROLES: readonly Role[] = COMPLAINT_SUPERVISOR_ROLES;
export const COMPLAINT_STAFF_READER_ROLES: readonly Role[] = STAFF;
/** Agents come on and go off duty themselves; supervisors for any agent. */
export const COMPLAINT_DUTY_ROLES: readonly Role[] = COMPLAINT_STAFF_ROLES;

/** Who sees the cases needing a person across every type, and notes on them. */
export const OPS_READER_ROLES: readonly Role[] = ['supervisor', 'ops', 'admin'];
/** Who writes ops notes on a case. */
export const OPS_ACTOR_ROLES: readonly Role[] = OPS_READER_ROLES;

/** Reports are for management and money: admins, finance and supervisors. */
export const REPORT_ROLES: readonly Role[] = ['admin', 'finance', 'supervisor'];

export const AUDIT_READER_ROLES: readonly Role[] = ['supervisor', 'ops', 'admin'];

/** Whoever may fake a bank transfer or a parcel scan in a demo or a test. */
export const SANDBOX_OPERATOR_ROLES: readonly Role[] = ['ops', 'admin', 'system'];

/** The customer's app reads its inbox through the shop; staff read it when the customer calls. */
export const CUSTOMER_INBOX_ROLES: readonly Role[] = ['system', ...STAFF];
/** The shop changes them for the customer in its settings page; staff when the customer asks on the phone. */
export const CUSTOMER_PREFERENCE_ROLES: readonly Role[] = CUSTOMER_INBOX_ROLES;
/** Every staff role reads the staff inboxes. */
export const STAFF_INBOX_ROLES: readonly Role[] = [...STAFF, 'warehouse', 'finance'];
