/** Money is always an integer count of the currency's minor unit (cents, fen) plus an ISO 4217 code. */
export interface Money {
  amount: number;
  currency: string;
}

export function assertMinorUnits(amount: number): number {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount must be an integer in minor units, got ${amount}`);
  return amount;
}

export function formatMoney({ amount, currency }: Money): string {
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')} ${currency}`;
}
