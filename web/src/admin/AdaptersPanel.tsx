import { type FormEvent, Fragment, useId, useState } from "react";
import { ApiError, type Api } from "../api/client";
import type { AdapterChange, ModelCard } from "../api/types";
import { useI18n } from "../i18n";
import { adapterBody, EMPTY_ADAPTER, type Adapter, type AdapterDraft } from "./adapters";

interface Props {
  api: Api;
  /** The local models that take adapters. */
  models: ModelCard[];
  adapters: Map<string, Adapter[]>;
  /** After an adapter is added or removed: the model lists read /v1/models again. */
  onChanged: () => Promise<void>;
}

function message(error: unknown): string {
  return error instanceof ApiError || error instanceof Error ? error.message : String(error);
}

function AddAdapterForm({ api, model, onAdded, onCancel }: { api: Api; model: string; onAdded: (change: AdapterChange) => Promise<void>; onCancel: () => void }) {
  const { t } = useI18n();
  const ids = useId();
  const [draft, setDraft] = useState<AdapterDraft>(EMPTY_ADAPTER);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const change = await api.json<AdapterChange>("POST", `/admin/models/${encodeURIComponent(model)}/adapters`, adapterBody(draft));
      await onAdded(change);
    } catch (caught) {
      setError(message(caught));
      setBusy(false);
    }
  };
  const name = draft.name.trim() || t("adapters.name").toLowerCase();
  return (
    <form className="adapter-form" onSubmit={(event) => void submit(event)}>
      <div className="form-grid">
        <label>
          <span>{t("adapters.name")}</span>
          <input required maxLength={64} value={draft.name} aria-describedby={`${ids}-name`} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
          <span id={`${ids}-name`} className="hint">
            {t("adapters.nameHint")}
            <br />
            {t("adapters.idPreview")} <code className="model-id">{`${model}:${name}`}</code>
          </span>
        </label>
        <label className="span-2">
          <span>{t("adapters.path")}</span>
          <input required value={draft.path} placeholder="/adapters/adapter.gguf" onChange={(e) => setDraft({ ...draft, path: e.target.value })} />
        </label>
        <label>
          <span>{t("adapters.scale")}</span>
          <input
            type="number"
            min={-10}
            max={10}
            step="any"
            inputMode="decimal"
            placeholder="1"
            value={draft.scale}
            aria-describedby={`${ids}-scale`}
            onChange={(e) => setDraft({ ...draft, scale: e.target.value })}
          />
          <span id={`${ids}-scale`} className="hint">
            {t("adapters.scaleHint")}
          </span>
        </label>
      </div>
      <label className="inline-field small">
        <input type="checkbox" checked={draft.keep} onChange={(e) => setDraft({ ...draft, keep: e.target.checked })} />
        {t("adapters.keep")}
      </label>
      {error !== null && (
        <p className="form-error" role="alert">
          {t("adapters.refused")} {error}
        </p>
      )}
      <p className="form-actions">
        <button type="submit" className="button-primary" disabled={busy || !draft.name.trim() || !draft.path.trim()}>
          {busy ? t("models.adding") : t("adapters.submit")}
        </button>
        <button type="button" onClick={onCancel}>
          {t("action.cancel")}
        </button>
      </p>
    </form>
  );
}

function ModelAdapters({ api, model, adapters, onChanged }: { api: Api; model: string; adapters: Adapter[]; onChanged: () => Promise<void> }) {
  const { t } = useI18n();
  const heading = useId();
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const added = async (change: AdapterChange) => {
    setAdding(false);
    setNotice(t(change.registered ? "adapters.added" : "adapters.addedUntilStop", { id: change.id }));
    await onChanged();
  };
  const remove = async (adapter: Adapter) => {
    setError(null);
    try {
      const change = await api.json<AdapterChange>("DELETE", `/admin/models/${encodeURIComponent(model)}/adapters/${encodeURIComponent(adapter.name)}`);
      setRemoving(null);
      setNotice(t("adapters.removed", { id: change.id }));
    } catch (caught) {
      setError(message(caught));
    }
    await onChanged();
  };
  return (
    <section className="adapter-model" aria-labelledby={heading}>
      <div className="status-head">
        <h4 id={heading}>{model}</h4>
        {!adding && (
          <button
            type="button"
            aria-label={t("adapters.addTo", { model })}
            onClick={() => {
              setAdding(true);
              setNotice(null);
            }}
          >
            {t("adapters.add")}
          </button>
        )}
      </div>
      {adapters.length === 0 ? (
        <p className="muted small">{t("adapters.none")}</p>
      ) : (
        <div className="table-wrap">
          <table className="data adapter-table">
            <thead>
              <tr>
                <th scope="col">{t("adapters.name")}</th>
                <th scope="col">{t("adapters.modelId")}</th>
                <th scope="col">{t("adapters.scale")}</th>
                <th scope="col">{t("adapters.file")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("adapters.remove")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {adapters.map((adapter) => (
                <Fragment key={adapter.id}>
                  <tr>
                    <th scope="row">{adapter.name}</th>
                    <td data-label={t("adapters.field", { label: t("adapters.modelId") })}>
                      <code className="model-id">{adapter.id}</code>
                    </td>
                    <td className="num" data-label={t("adapters.field", { label: t("adapters.scale") })}>
                      {adapter.scale}
                    </td>
                    <td className="path" data-label={t("adapters.field", { label: t("adapters.file") })}>
                      <code>{adapter.path}</code>
                    </td>
                    <td className="row-action">
                      {removing !== adapter.name && (
                        <button type="button" className="button-danger" aria-label={t("adapters.removeLabel", { id: adapter.id })} onClick={() => setRemoving(adapter.name)}>
                          {t("adapters.remove")}
                        </button>
                      )}
                    </td>
                  </tr>
                  {removing === adapter.name && (
                    <tr className="confirm-row">
                      <td colSpan={5}>
                        <span className="history-confirm" role="group" aria-label={t("adapters.removeConfirm", { id: adapter.id })}>
                          <span>{t("adapters.removeConfirm", { id: adapter.id })}</span>
                          <button type="button" className="button-danger" onClick={() => void remove(adapter)}>
                            {t("adapters.remove")}
                          </button>
                          <button type="button" onClick={() => setRemoving(null)} autoFocus>
                            {t("action.cancel")}
                          </button>
                        </span>
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {notice !== null && (
        <p className="small" role="status">
          {notice}
        </p>
      )}
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {adding && <AddAdapterForm api={api} model={model} onAdded={added} onCancel={() => setAdding(false)} />}
    </section>
  );
}

/** Each local model's LoRA adapters, with a form to add one and a button to remove each. */
export function AdaptersPanel({ api, models, adapters, onChanged }: Props) {
  const { t } = useI18n();
  return (
    <section className="panel adapters" aria-labelledby="adapters-heading">
      <h3 id="adapters-heading">{t("adapters.title")}</h3>
      <p className="muted small">{t("adapters.hint")}</p>
      {models.length === 0 && <p className="muted">{t("adapters.noModels")}</p>}
      {models.map((model) => (
        <ModelAdapters key={model.id} api={api} model={model.id} adapters={adapters.get(model.id) ?? []} onChanged={onChanged} />
      ))}
    </section>
  );
}
