import { useRef, useState, type KeyboardEvent } from "react";
import type { Api } from "../api/client";
import type { ModelCard } from "../api/types";
import { useI18n } from "../i18n";
import { KeysPanel } from "./KeysPanel";
import { ModelsPanel } from "./ModelsPanel";
import { StatusPanel } from "./StatusPanel";

interface Props {
  api: Api;
  models: ModelCard[];
  onSignIn: () => void;
  /** A model or an adapter was added or removed. */
  onModelsChanged: () => void;
}

const TABS = ["status", "keys", "models"] as const;
type Tab = (typeof TABS)[number];

export function AdminPage({ api, onSignIn, onModelsChanged }: Props) {
  const { t } = useI18n();
  const [tab, setTab] = useState<Tab>("status");
  const buttons = useRef<Record<Tab, HTMLButtonElement | null>>({ status: null, keys: null, models: null });
  // Arrow keys move between tabs, as the ARIA tabs pattern expects.
  const onKeyDown = (event: KeyboardEvent) => {
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = TABS[(TABS.indexOf(tab) + step + TABS.length) % TABS.length]!;
    setTab(next);
    buttons.current[next]?.focus();
  };
  return (
    <div className="admin">
      <h1>{t("admin.title")}</h1>
      <div className="tabs" role="tablist" aria-label={t("admin.tabs")} onKeyDown={onKeyDown}>
        {TABS.map((id) => (
          <button
            key={id}
            ref={(element) => {
              buttons.current[id] = element;
            }}
            type="button"
            role="tab"
            id={`tab-${id}`}
            aria-selected={tab === id}
            aria-controls={`panel-${id}`}
            tabIndex={tab === id ? 0 : -1}
            onClick={() => setTab(id)}
          >
            {t(`admin.${id}`)}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "status" && <StatusPanel api={api} onSignIn={onSignIn} />}
        {tab === "keys" && <KeysPanel api={api} onSignIn={onSignIn} />}
        {tab === "models" && <ModelsPanel api={api} onSignIn={onSignIn} onModelsChanged={onModelsChanged} />}
      </div>
    </div>
  );
}
