import type { Actor } from '../../domain/case';

/** A shipping address every validator accepts; frozen, so a test changes a copy, never what other tests see. */
export const SHIPPING_ADDRESS = Object.freeze({
  name: 'Li Lei',
  phone: '13800138000',
  line1: '1 Nanjing Rd',
  city: 'Shanghai',
  postalCode: '200000',
  country: 'CN',
});

/** Staff acting on cases in workflow tests. */
export const agent: Actor = { principal: 'alice', role: 'agent' };
export const opsActor: Actor = { principal: 'olga', role: 'ops' };
export const supervisor: Actor = { principal: 'sam', role: 'supervisor' };
export const financeActor: Actor = { principal: 'fiona', role: 'finance' };
export const warehouseActor: Actor = { principal: 'wang', role: 'warehouse' };
