import { describe, expect, it } from "vitest";
import { buckets, histogramQuantile, observations, parseMetrics, subtract } from "./metrics";

const TEXT = `# HELP deepfort:time_to_first_token_seconds Time to first token.
# TYPE deepfort:time_to_first_token_seconds histogram
deepfort:time_to_first_token_seconds_bucket{le="0.1",model="a",tier="local"} 2.0
deepfort:time_to_first_token_seconds_bucket{le="0.5",model="a",tier="local"} 6.0
deepfort:time_to_first_token_seconds_bucket{le="1.0",model="a",tier="local"} 8.0
deepfort:time_to_first_token_seconds_bucket{le="+Inf",model="a",tier="local"} 10.0
deepfort:time_to_first_token_seconds_count{model="a",tier="local"} 10.0
deepfort:time_to_first_token_seconds_bucket{le="0.1",model="b \\"quoted\\"",tier="edge"} 0.0
deepfort:time_to_first_token_seconds_bucket{le="0.5",model="b \\"quoted\\"",tier="edge"} 0.0
deepfort:time_to_first_token_seconds_bucket{le="1.0",model="b \\"quoted\\"",tier="edge"} 0.0
deepfort:time_to_first_token_seconds_bucket{le="+Inf",model="b \\"quoted\\"",tier="edge"} 0.0
deepfort:num_requests_running{model="a"} 3.0
`;

describe("parseMetrics", () => {
  it("reads names, labels (with escapes) and values", () => {
    const samples = parseMetrics(TEXT);
    expect(samples).toHaveLength(10);
    expect(samples[5]).toEqual({ name: "deepfort:time_to_first_token_seconds_bucket", labels: { le: "0.1", model: 'b "quoted"', tier: "edge" }, value: 0 });
    expect(samples.at(-1)).toEqual({ name: "deepfort:num_requests_running", labels: { model: "a" }, value: 3 });
  });
});

describe("histogramQuantile", () => {
  const ttft = buckets(parseMetrics(TEXT), "deepfort:time_to_first_token_seconds");

  it("sums the series of every model and tier", () => {
    expect(observations(ttft)).toBe(10);
  });

  it("interpolates inside the bucket that holds the rank, like PromQL", () => {
    expect(histogramQuantile(0.5, ttft)).toBeCloseTo(0.1 + (0.4 * (5 - 2)) / 4);
    expect(histogramQuantile(0.2, ttft)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.7, ttft)).toBeCloseTo(0.5 + (0.5 * 1) / 2);
  });

  it("answers the largest finite bound for ranks in the +Inf bucket", () => {
    expect(histogramQuantile(0.95, ttft)).toBe(1);
  });

  it("has no answer without observations", () => {
    expect(histogramQuantile(0.5, subtract(ttft, ttft))).toBeNull();
    expect(histogramQuantile(0.5, new Map())).toBeNull();
  });

  it("measures a window as the difference of two scrapes", () => {
    const later = new Map(ttft);
    later.set(0.1, 2).set(0.5, 6).set(1, 10).set(Infinity, 12);
    const window = subtract(later, ttft);
    expect(observations(window)).toBe(2);
    expect(histogramQuantile(0.5, window)).toBeCloseTo(0.75);
  });
});
