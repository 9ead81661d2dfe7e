import { z } from 'zod';
import { INSTRUMENT_ID_PATTERN } from '../ids.ts';

/** An instrument id in a config file or request (SPEC "instrument id"). */
export const instrumentId = z.string().regex(INSTRUMENT_ID_PATTERN, {
  error: (iss) =>
    `${JSON.stringify(iss.input)} is not an instrument id: use 1 to 64 letters, digits, . _ or -, starting with a letter or digit`,
});
