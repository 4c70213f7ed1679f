/** A shipping address every validator accepts; frozen, so a test changes a copy, never what other tests see. */
export const SHIPPING_ADDRESS = Object.freeze({
  name: 'Li Lei',
  phone: '13800138000',
  line1: '1 Nanjing Rd',
  city: 'Shanghai',
  postalCode: '200000',
  country: 'CN',
});
