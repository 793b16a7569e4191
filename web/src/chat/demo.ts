/** The embedded demonstration model, and the sampling defaults a model card advertises. */
import type { ModelCard } from "../api/types";

/** The shell command that registers a real model; shown verbatim in both languages. */
export const ADD_MODEL_COMMAND = "deepfort models add /path/model.gguf";

/** Whether the selected model is the embedded SmolLM2-135M (its card says `demo: true`). */
export function isDemo(models: ModelCard[], selected: string): boolean {
  return models.find((model) => model.id === selected)?.demo === true;
}

/** The model's own default for a sampling field, when its card gives one. */
export function samplingDefault(models: ModelCard[], selected: string, field: string): number | null {
  const value = models.find((model) => model.id === selected)?.sampling_defaults?.[field];
  return typeof value === "number" ? value : null;
}

/** Split a translated sentence around its `{command}` placeholder, so that the command can be set as code. */
export function aroundCommand(text: string): [string, string] {
  const at = text.indexOf("{command}");
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + "{command}".length)];
}
