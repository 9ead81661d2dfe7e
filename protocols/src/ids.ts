/** The platform's instrument code (仪器编码), SPEC "instrument id". Its schema: ./config/ids.ts. */
export const INSTRUMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isInstrumentId(value: string): boolean {
  return INSTRUMENT_ID_PATTERN.test(value);
}
