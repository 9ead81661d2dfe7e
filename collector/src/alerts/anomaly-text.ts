import { type AnomalyInput, anomalySchema } from './config.ts';

export type { AnomalyInput };

/** The registry's `anomaly` column (JSON), parsed; null when absent or no longer valid. */
export function parseAnomalyText(text: string | null): AnomalyInput | null {
  if (text === null) return null;
  try {
    const parsed = anomalySchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
