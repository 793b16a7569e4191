import { describe, expect, it } from "vitest";
import type { ModelCard } from "../api/types";
import { adapterBody, adaptersByModel, EMPTY_ADAPTER, isAdapter, takesAdapters } from "./adapters";
import { groupModels } from "./ModelsPanel";

const lora = (name: string, path: string, scale = 1) => ({ lora: { name, path, scale }, reasoning_parser: null });
// The shape of deepfort's /v1/models with a model, its alias, two adapters, a router and a center.
const CARDS: ModelCard[] = [
  { id: "qwen-7b", object: "model", created: 0, owned_by: "deepfort", root: "qwen-7b", parent: null, details: { lora: [{ name: "legal", path: "/a/legal.gguf", scale: 1 }] } },
  { id: "qwen", object: "model", created: 0, owned_by: "deepfort", root: "qwen-7b", parent: null, details: { lora: [] } },
  { id: "qwen-7b:legal", object: "model", created: 0, owned_by: "deepfort", root: "/a/legal.gguf", parent: "qwen-7b", details: lora("legal", "/a/legal.gguf") },
  { id: "qwen-7b:hr", object: "model", created: 0, owned_by: "deepfort", root: "/a/hr.gguf", parent: "qwen-7b", details: lora("hr", "/a/hr.gguf", 0.8) },
  { id: "auto", object: "model", created: 0, owned_by: "router", details: { tier: "router" } },
  { id: "r1-32b", object: "model", created: 0, owned_by: "center", root: "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", details: { tier: "center" } },
];

describe("adapters in the model list", () => {
  it("groups adapter cards by their base model, in the server's order", () => {
    expect([...adaptersByModel(CARDS)]).toEqual([
      [
        "qwen-7b",
        [
          { id: "qwen-7b:legal", name: "legal", path: "/a/legal.gguf", scale: 1 },
          { id: "qwen-7b:hr", name: "hr", path: "/a/hr.gguf", scale: 0.8 },
        ],
      ],
    ]);
  });

  it("reads an adapter card without its lora entry from its id and root", () => {
    const bare: ModelCard = { id: "m:x.v2", object: "model", created: 0, owned_by: "deepfort", root: "/x.gguf", parent: "m" };
    expect(adaptersByModel([bare]).get("m")).toEqual([{ id: "m:x.v2", name: "x.v2", path: "/x.gguf", scale: 1 }]);
  });

  it("leaves adapters out of the models table: they are no served model of their own", () => {
    expect(groupModels(CARDS).map((r) => [r.card.id, r.aliases])).toEqual([
      ["qwen-7b", ["qwen"]],
      ["auto", []],
      ["r1-32b", []],
    ]);
  });

  it("offers adapters on local models whose engine lists them, never on adapters, routers or centers", () => {
    expect(CARDS.filter(isAdapter).map((c) => c.id)).toEqual(["qwen-7b:legal", "qwen-7b:hr"]);
    expect(CARDS.filter(takesAdapters).map((c) => c.id)).toEqual(["qwen-7b", "qwen"]);
    const noLora: ModelCard = { id: "fake", object: "model", created: 0, owned_by: "deepfort", root: "fake", details: {} };
    expect(takesAdapters(noLora)).toBe(false);
  });
});

describe("adapterBody", () => {
  it("trims the fields and leaves an empty scale to the server", () => {
    expect(adapterBody({ ...EMPTY_ADAPTER, name: " faq ", path: " /out/adapter.gguf " })).toEqual({ name: "faq", path: "/out/adapter.gguf", keep: true });
  });

  it("sends a scale as a number and keep as chosen", () => {
    expect(adapterBody({ name: "faq", path: "/a.gguf", scale: "0.5", keep: false })).toEqual({ name: "faq", path: "/a.gguf", scale: 0.5, keep: false });
    expect(adapterBody({ name: "faq", path: "/a.gguf", scale: "-1", keep: true }).scale).toBe(-1);
  });
});
