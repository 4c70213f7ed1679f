/** E.164 (`+8613800138000`) or an 11-digit mainland China mobile number (`13800138000`). */
export const PHONE_PATTERN = /^(\+[1-9]\d{6,14}|1[3-9]\d{9})$/;
