import { describe, expect, it } from "vitest";
import type { ModelCard, Stats } from "../api/types";
import { createBody, keyId } from "./KeysPanel";
import { buckets, parseMetrics } from "./metrics";
import { groupModels } from "./ModelsPanel";
import { summarise } from "./useStatus";

const card = (id: string, root: string | null, owned_by = "deepfort"): ModelCard => ({ id, object: "model", created: 0, owned_by, root });

describe("groupModels", () => {
  it("folds aliases into their model and keeps router and center cards apart", () => {
    const rows = groupModels([
      card("smollm2-135m", "smollm2-135m"),
      card("smollm2", "smollm2-135m"),
      card("auto", null, "router"),
      card("r1-32b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "center"),
    ]);
    expect(rows.map((r) => [r.card.id, r.aliases])).toEqual([
      ["smollm2-135m", ["smollm2"]],
      ["auto", []],
      ["r1-32b", []],
    ]);
  });
});

describe("createBody", () => {
  it("leaves empty fields to the server and splits the model list", () => {
    const body = createBody({ name: " ops ", role: "admin", rate: "", tokens: " 1000/day ", models: "a, b，c", expires: "", pii: "" });
    expect(body).toEqual({ name: "ops", role: "admin", rate: null, tokens: "1000/day", models: ["a", "b", "c"], expires_at: null, pii_policy: null });
  });

  it("turns an expiry date into the end of that day", () => {
    const body = createBody({ name: "x", role: "user", rate: "", tokens: "", models: "", expires: "2030-01-31", pii: "block" });
    expect(new Date(String(body.expires_at)).getTime()).toBe(new Date("2030-01-31T23:59:59").getTime());
    expect(body.pii_policy).toBe("block");
  });
});

describe("keyId", () => {
  it("reads the id out of a key", () => {
    expect(keyId("df-9jawghqs--Ad2yXV-f92uQiNPlLl0MZTFWvRa4j1_PnUvKerFt1M")).toBe("9jawghqs");
    expect(keyId("df-swr2bsrx-Wx9dlp2efVuXtwLKCI8F1IlWmKriIHT-P-foi3_fycU")).toBe("swr2bsrx");
    expect(keyId(null)).toBeNull();
    expect(keyId("sk-other")).toBeNull();
  });
});

describe("summarise", () => {
  const ttft = (fast: number, slow: number) =>
    buckets(
      parseMetrics(
        [`x_bucket{le="0.1"} ${fast}`, `x_bucket{le="1.0"} ${fast + slow}`, `x_bucket{le="+Inf"} ${fast + slow}`]
          .join("\n")
          .replaceAll("x_bucket", "deepfort:time_to_first_token_seconds_bucket"),
      ),
      "deepfort:time_to_first_token_seconds",
    );
  const stats = (running: number, generated: number): Stats => ({
    models: {
      a: { model: "a", slots: 4, running, waiting: 1, queue_size: 64, finished_total: 0, generated_tokens_total: generated, kv_cells_total: 0, kv_cells_used: 0 },
    },
  });

  it("reports the last minute when requests arrived in it, since start otherwise", () => {
    const first = { at: 0, ttft: ttft(10, 0), generated: 100 };
    const quiet = summarise([first, { at: 2000, ttft: ttft(10, 0), generated: 100 }], stats(0, 100));
    expect(quiet.ttft.scope).toBe("sinceStart");
    expect(quiet.ttft.p50).toBeCloseTo(0.05);
    const busy = summarise([first, { at: 4000, ttft: ttft(10, 4), generated: 300 }], stats(2, 300));
    expect(busy.ttft.scope).toBe("window");
    expect(busy.ttft.p50).toBeGreaterThan(0.1); // only the four slow ones count
    expect(busy.tokensPerSecond).toBeCloseTo(50);
    expect([busy.running, busy.waiting]).toEqual([2, 1]);
  });

  it("has no figures before any request", () => {
    const none = summarise([{ at: 0, ttft: ttft(0, 0), generated: 0 }], stats(0, 0));
    expect(none.ttft).toEqual({ p50: null, p95: null, scope: "none" });
    expect(none.tokensPerSecond).toBeNull();
  });
});
