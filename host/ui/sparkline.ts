/** The loudness sparkline beside each recording: levels (host/engine/loudness.ts) as blocks. */

/** Block characters from lowest to highest. */
export const SPARK_CHARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

/** One block character per level (0..1; out-of-range and NaN are clamped). */
export function sparkline(levels: readonly number[]): string {
  const top = SPARK_CHARS.length - 1;
  return levels
    .map((v) => {
      const x = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
      return SPARK_CHARS[Math.round(x * top)];
    })
    .join('');
}
