import type { ModelCard } from "../api/types";
import { useI18n } from "../i18n";
import { samplingDefault } from "./demo";
import { modelOptions } from "./modelOptions";
import type { ChatOptions } from "./useChat";

interface Props {
  models: ModelCard[];
  options: ChatOptions;
  onChange: (options: ChatOptions) => void;
}

function numberOrNull(value: string): number | null {
  if (value.trim() === "") return null;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null;
}

export function ChatOptionsBar({ models, options, onChange }: Props) {
  const { t } = useI18n();
  // The placeholder names the model's own default where its card gives one.
  const placeholder = (field: string) => {
    const value = samplingDefault(models, options.model, field);
    return value === null ? t("chat.default") : `${t("chat.default")} (${value})`;
  };
  return (
    <div className="chat-toolbar">
      <label className="inline-field">
        <span>{t("chat.model")}</span>
        <select value={options.model} onChange={(event) => onChange({ ...options, model: event.target.value })}>
          {modelOptions(models).map((model) => (
            <option key={model.id} value={model.id}>
              {model.adapterOf !== null ? t("chat.adapter", { id: model.id }) : model.id === "auto" ? t("chat.auto") : model.id}
            </option>
          ))}
        </select>
      </label>
      <details className="chat-options">
        <summary>{t("chat.options")}</summary>
        <div className="options-grid">
          <label>
            <span>{t("chat.temperature")}</span>
            <input type="number" min={0} max={2} step={0.1} inputMode="decimal" placeholder={placeholder("temperature")} value={options.temperature ?? ""} onChange={(e) => onChange({ ...options, temperature: numberOrNull(e.target.value) })} />
          </label>
          <label>
            <span>{t("chat.maxTokens")}</span>
            <input type="number" min={1} step={1} inputMode="numeric" placeholder={placeholder("max_tokens")} value={options.maxTokens ?? ""} onChange={(e) => onChange({ ...options, maxTokens: numberOrNull(e.target.value) })} />
          </label>
          <label>
            <span>{t("chat.thinkingBudget")}</span>
            <input type="number" min={0} step={1} inputMode="numeric" placeholder={t("chat.noLimit")} value={options.thinkingBudget ?? ""} onChange={(e) => onChange({ ...options, thinkingBudget: numberOrNull(e.target.value) })} />
          </label>
        </div>
      </details>
    </div>
  );
}
