/**
 * Just enough of the Prometheus text format for the status panel: samples with labels, and quantiles of a
 * histogram computed from its cumulative buckets the way PromQL's `histogram_quantile` does.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function number(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? "").matchAll(LABEL)) labels[label[1]!] = unescape(label[2]!);
    samples.push({ name: match[1]!, labels, value: number(match[3]!) });
  }
  return samples;
}

/** Cumulative bucket counts by upper bound, summed over every series of `histogram` (all models, tiers). */
export function buckets(samples: Sample[], histogram: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${histogram}_bucket` || sample.labels.le === undefined) continue;
    const le = number(sample.labels.le);
    out.set(le, (out.get(le) ?? 0) + sample.value);
  }
  return out;
}

/** `now - before`, bucket by bucket: the observations made between two scrapes. */
export function subtract(now: Map<number, number>, before: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, count] of now) out.set(le, Math.max(0, count - (before.get(le) ?? 0)));
  return out;
}

/** The `q` quantile (0..1) of a histogram's cumulative buckets, or null with no observations. */
export function histogramQuantile(q: number, cumulative: Map<number, number>): number | null {
  const sorted = [...cumulative.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!sorted.length || total <= 0 || sorted.at(-1)![0] !== Infinity) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      // In the +Inf bucket the best answer is the largest finite bound (PromQL does the same).
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

export function observations(cumulative: Map<number, number>): number {
  return cumulative.get(Infinity) ?? 0;
}
