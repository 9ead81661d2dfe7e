import { duration } from '@dayi/protocols';
import { compileLineFormat } from '@dayi/protocols/serial/format.ts';
import { z } from 'zod';

/** Line settings a USB or RS-232 sensor may use; 8N1 is the default almost every sensor ships with. */
export const PARITIES = ['none', 'even', 'odd', 'mark', 'space'] as const;

const lineFormat = z
  .object({
    /** A JavaScript regular expression; each named group is a metric: `I=(?<current_a>[0-9.]+)`. */
    regex: z.string().min(1, 'regex is empty'),
    /** Per-metric factor applied after parsing, e.g. `{ current_a: 0.001 }` for a sensor sending mA. */
    scale: z.record(z.string(), z.number()).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const r = compileLineFormat(f);
    if (r.ok) return;
    // The path already names the scale key; keep the message short.
    ctx.addIssue({ code: 'custom', path: r.path, message: r.reason.replace(/^scale\.[^:]+: /, '') });
  });

export const serialInputSchema = z
  .object({
    type: z.literal('serial'),
    /** Shown in logs and in `status`; default `serial <path> <baudRate> baud`. */
    name: z.string().min(1).max(128).optional(),
    /** `/dev/ttyACM0`, `/dev/serial/by-id/…` (stable across reboots), or `COM3` on Windows. */
    path: z.string().min(1, 'path of the serial device is required'),
    baudRate: z.number().int().positive().default(9600),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
    parity: z.enum(PARITIES).default('none'),
    stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1),
    format: lineFormat,
    /**
     * Without it, every parsed line is one reading. With it, the lines of each period are averaged
     * into one reading, for sensors that talk faster than anyone needs.
     */
    every: duration().optional(),
  })
  .strict();

export type SerialInputConfig = z.infer<typeof serialInputSchema>;

/** The registry's name for it (../schemas.ts). */
export const schema = serialInputSchema;
