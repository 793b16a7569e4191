import { describe, expect, it } from "vitest";
import type { ModelCard } from "../api/types";
import { modelOptions } from "./modelOptions";

const card = (id: string, extra: Partial<ModelCard> = {}): ModelCard => ({ id, object: "model", created: 0, owned_by: "deepfort", root: id, ...extra });

describe("modelOptions", () => {
  it("keeps the server's order and marks adapters as adapters of their base", () => {
    const options = modelOptions([card("a"), card("a:faq", { root: "/faq.gguf", parent: "a" }), card("b")]);
    expect(options).toEqual([
      { id: "a", adapterOf: null },
      { id: "a:faq", adapterOf: "a" },
      { id: "b", adapterOf: null },
    ]);
  });

  it("puts an adapter after its base model's aliases, whatever the order of the cards", () => {
    const options = modelOptions([
      card("auto", { owned_by: "router", root: null }),
      card("a:faq", { root: "/faq.gguf", parent: "a" }),
      card("a"),
      card("alias-of-a", { root: "a" }),
      card("big", { owned_by: "center", root: "a" }), // a center's root is its upstream name: no alias
      card("gone:x", { root: "/x.gguf", parent: "gone" }),
    ]);
    expect(options.map((o) => o.id)).toEqual(["auto", "a", "alias-of-a", "a:faq", "big", "gone:x"]);
    expect(options.filter((o) => o.adapterOf !== null).map((o) => o.adapterOf)).toEqual(["a", "gone"]);
  });
});
