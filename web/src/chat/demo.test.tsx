import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { ModelCard } from "../api/types";
import { translator } from "../i18n";
import { en } from "../i18n/en";
import { zhCN } from "../i18n/zh-CN";
import { ADD_MODEL_COMMAND, aroundCommand, isDemo, samplingDefault } from "./demo";
import { DemoNotice } from "./DemoNotice";

const card = (id: string, extra: Partial<ModelCard> = {}): ModelCard => ({ id, object: "model", created: 0, owned_by: "deepfort", ...extra });

// As /v1/models lists them: the embedded model under its id and alias, a real one, and an older server's card.
const MODELS: ModelCard[] = [
  card("smollm2-135m", { demo: true, sampling_defaults: { temperature: 0.2, top_p: 0.9 } }),
  card("smollm2", { demo: true, sampling_defaults: { temperature: 0.2, top_p: 0.9 } }),
  card("qwen3-8b", { demo: false, sampling_defaults: {} }),
  card("auto"),
];

describe("the demonstration model", () => {
  it("is recognised by the flag on its card, under every name", () => {
    expect(isDemo(MODELS, "smollm2-135m")).toBe(true);
    expect(isDemo(MODELS, "smollm2")).toBe(true);
    expect(isDemo(MODELS, "qwen3-8b")).toBe(false);
    expect(isDemo(MODELS, "auto")).toBe(false); // no flag: an older server or a routed model
    expect(isDemo(MODELS, "gone")).toBe(false);
    expect(isDemo([], "")).toBe(false);
  });

  it("gets a notice naming the model and the command that adds a real one", () => {
    const html = renderToStaticMarkup(<DemoNotice model="smollm2-135m" />);
    expect(html).toContain("smollm2-135m is a demonstration model");
    expect(html).toContain("English only");
    expect(html).toContain(`<code>${ADD_MODEL_COMMAND}</code>`);
    expect(html).toContain("upstream server");
    expect(html).not.toContain("{");
  });

  it("is explained in both languages, each with the command in place", () => {
    for (const messages of [en, zhCN]) {
      for (const key of ["chat.demoTitle", "chat.demoDetail", "chat.demoAdd"] as const) expect(messages[key].trim()).not.toBe("");
      const [before, after] = aroundCommand(messages["chat.demoAdd"]);
      expect(before + after).not.toContain("{command}");
      expect(messages["chat.demoAdd"]).toContain("{command}");
    }
    expect(translator("zh-CN")("chat.demoTitle", { model: "smollm2" })).toBe("smollm2 是演示模型");
    expect(zhCN["chat.demoDetail"]).toContain("英文");
  });
});

describe("sampling defaults", () => {
  it("come from the selected model's card", () => {
    expect(samplingDefault(MODELS, "smollm2", "temperature")).toBe(0.2);
    expect(samplingDefault(MODELS, "smollm2", "max_tokens")).toBeNull();
    expect(samplingDefault(MODELS, "qwen3-8b", "temperature")).toBeNull();
    expect(samplingDefault(MODELS, "auto", "temperature")).toBeNull();
  });
});
