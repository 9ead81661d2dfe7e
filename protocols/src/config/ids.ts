import { z } from 'zod';
import { INSTRUMENT_ID_PATTERN } from '../ids.ts';

/** An instrument id in a config file or request (SPEC "instrument id"). */
export const instrumentId = z
  .string()
  .regex(INSTRUMENT_ID_PATTERN, 'instrument id must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}');
