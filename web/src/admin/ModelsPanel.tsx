import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { Api } from "../api/client";
import type { ModelCard, Stats } from "../api/types";
import { useI18n, type Translate } from "../i18n";
import { ErrorNotice } from "../ui/ErrorNotice";
import { AdaptersPanel } from "./AdaptersPanel";
import { adaptersByModel, isAdapter, takesAdapters, type Adapter } from "./adapters";

interface Row {
  card: ModelCard;
  aliases: string[];
}

/** One row per served model: cards that share a `root` are its aliases; LoRA adapters (cards with a
 * `parent`) are left to the adapters panel. */
export function groupModels(cards: ModelCard[]): Row[] {
  const rows = new Map<string, Row>();
  for (const card of cards) {
    if (isAdapter(card)) continue;
    const root = card.owned_by === "deepfort" && card.root ? card.root : card.id;
    const row = rows.get(root);
    if (!row) rows.set(root, { card: card.id === root ? card : { ...card, id: root }, aliases: card.id === root ? [] : [card.id] });
    else if (card.id !== root) row.aliases.push(card.id);
  }
  return [...rows.values()];
}

function statusOf(row: Row, stats: Stats | null, t: Translate): { text: string; ok: boolean | null } {
  const { card } = row;
  if (card.owned_by === "router") return { text: t("models.router"), ok: null };
  if (card.owned_by === "center") {
    const healthy = card.details?.healthy === true;
    return { text: t("models.center", { target: String(card.details?.target ?? ""), health: healthy ? t("status.up") : t("status.down") }), ok: healthy };
  }
  const engine = stats?.models[card.id];
  if (!engine) return { text: t("status.loading"), ok: false };
  return {
    text: `${t("models.ready")} · ${t("models.slotsBusy", { running: engine.running, slots: engine.slots, waiting: engine.waiting })}`,
    ok: true,
  };
}

function AddModelForm({ api, onAdded, onSignIn }: { api: Api; onAdded: () => void; onSignIn: () => void }) {
  const { t } = useI18n();
  const [path, setPath] = useState("");
  const [id, setId] = useState("");
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const added = await api.json<{ id: string }>("POST", "/admin/models", { path: path.trim(), id: id.trim() || null });
      setDone(added.id);
      setPath("");
      setId("");
      onAdded();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel add-model" aria-labelledby="add-model-heading" onSubmit={(event) => void submit(event)}>
      <h3 id="add-model-heading">{t("models.add")}</h3>
      <p className="muted small">{t("models.addHint")}</p>
      <label>
        {t("models.path")}
        <input value={path} onChange={(event) => setPath(event.target.value)} required placeholder="/models/model.gguf" />
      </label>
      <label>
        {t("models.newId")}
        <input value={id} onChange={(event) => setId(event.target.value)} />
      </label>
      <button type="submit" disabled={busy || !path.trim()}>
        {busy ? t("models.adding") : t("models.add")}
      </button>
      {done !== null && <p role="status">{t("models.added", { id: done })}</p>}
      {error !== null && <ErrorNotice error={error} onSignIn={onSignIn} />}
    </form>
  );
}

interface Props {
  api: Api;
  onSignIn: () => void;
  /** After a model or an adapter is added or removed (the chat's model picker reads the list again). */
  onModelsChanged: () => void;
}

export function ModelsPanel({ api, onSignIn, onModelsChanged }: Props) {
  const { t } = useI18n();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [adapters, setAdapters] = useState<Map<string, Adapter[]>>(new Map());
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      const [models, engines] = await Promise.all([api.get<{ data: ModelCard[] }>("/v1/models"), api.get<Stats>("/stats")]);
      setRows(groupModels(models.data));
      setAdapters(adaptersByModel(models.data));
      setStats(engines);
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  }, [api]);
  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 5000);
    return () => window.clearInterval(timer);
  }, [load]);

  return (
    <section className="admin-section" aria-labelledby="models-heading">
      <h2 id="models-heading" className="visually-hidden">
        {t("admin.models")}
      </h2>
      {error !== null && <ErrorNotice error={error} onRetry={() => void load()} onSignIn={onSignIn} />}
      {rows && (
        <div className="panel table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th scope="col">{t("models.id")}</th>
                <th scope="col">{t("models.aliases")}</th>
                <th scope="col">{t("models.owner")}</th>
                <th scope="col">{t("models.context")}</th>
                <th scope="col">{t("models.parser")}</th>
                <th scope="col">{t("models.status")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => {
                const status = statusOf(row, stats, t);
                return (
                  <tr key={row.card.id}>
                    <th scope="row">{row.card.id}</th>
                    <td>{row.aliases.join(", ") || "–"}</td>
                    <td>{row.card.owned_by}</td>
                    <td className="num">{row.card.max_model_len ?? "–"}</td>
                    <td>{String(row.card.details?.reasoning_parser ?? "–")}</td>
                    <td className={status.ok === null ? undefined : status.ok ? "state-active" : "state-revoked"}>{status.text}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {rows && (
        <AdaptersPanel
          api={api}
          models={rows.filter((row) => takesAdapters(row.card)).map((row) => row.card)}
          adapters={adapters}
          onChanged={async () => {
            onModelsChanged();
            await load();
          }}
        />
      )}
      <AddModelForm
        api={api}
        onAdded={() => {
          onModelsChanged();
          void load();
        }}
        onSignIn={onSignIn}
      />
    </section>
  );
}
