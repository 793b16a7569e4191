import { useCallback, useEffect, useState } from "react";
import { ApiError, type Api } from "../api/client";
import type { ApiKey, CreatedKey } from "../api/types";
import { useI18n } from "../i18n";
import { copyText } from "../ui/clipboard";
import { ErrorNotice } from "../ui/ErrorNotice";

interface Draft {
  name: string;
  role: "user" | "admin";
  rate: string;
  tokens: string;
  models: string;
  expires: string;
  pii: "" | "mask" | "block" | "allow";
}

const STATES = new Set(["active", "revoked", "expired"]);
const EMPTY: Draft = { name: "", role: "user", rate: "", tokens: "", models: "", expires: "", pii: "" };

/** The body of POST /admin/keys for a filled form (empty fields: the server's defaults). */
export function createBody(draft: Draft): Record<string, unknown> {
  const models = draft.models
    .split(/[,，\s]+/)
    .map((m) => m.trim())
    .filter(Boolean);
  return {
    name: draft.name.trim(),
    role: draft.role,
    rate: draft.rate.trim() || null,
    tokens: draft.tokens.trim() || null,
    models: models.length ? models : null,
    // A date means "through that day" in the administrator's own time zone.
    expires_at: draft.expires ? new Date(`${draft.expires}T23:59:59`).toISOString() : null,
    pii_policy: draft.pii || null,
  };
}

/** The id part of a key (`df-<8 id chars>-<43 secret chars>`), to mark the key this session uses. */
export function keyId(token: string | null): string | null {
  const match = token ? /^df-([a-z0-9]{8})-[A-Za-z0-9_-]{43}$/.exec(token) : null;
  return match ? match[1]! : null;
}

function message(error: unknown): string {
  return error instanceof ApiError || error instanceof Error ? error.message : String(error);
}

export function KeysPanel({ api, onSignIn }: { api: Api; onSignIn: () => void }) {
  const { t, lang } = useI18n();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [copied, setCopied] = useState(false);
  const [revoking, setRevoking] = useState<string | null>(null);
  const [showAll, setShowAll] = useState(false);
  const mine = keyId(api.key);

  const load = useCallback(async () => {
    try {
      const list = await api.get<{ data: ApiKey[] }>("/admin/keys");
      setKeys(list.data);
      setLoadError(null);
    } catch (error) {
      setLoadError(error);
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  const create = async () => {
    setBusy(true);
    setFormError(null);
    try {
      const key = await api.json<CreatedKey>("POST", "/admin/keys", createBody(draft));
      setCreated(key);
      setCopied(false);
      setDraft(EMPTY);
      await load();
    } catch (error) {
      setFormError(message(error));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (id: string) => {
    try {
      await api.json("DELETE", `/admin/keys/${encodeURIComponent(id)}`);
      setRevoking(null);
      await load();
    } catch (error) {
      setLoadError(error);
    }
  };
  const date = (iso: string | null) => (iso ? new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" }) : "–");
  const shown = (keys ?? []).filter((k) => showAll || k.state === "active");

  return (
    <section className="admin-section" aria-labelledby="keys-heading">
      <h2 id="keys-heading" className="visually-hidden">
        {t("admin.keys")}
      </h2>
      {created && (
        <div className="notice notice-warn" role="status">
          <p className="notice-title">{t("keys.created", { name: created.name })}</p>
          <div className="secret">
            <code aria-label={t("keys.secret")} data-testid="new-key">
              {created.key}
            </code>
            <button type="button" onClick={() => void copyText(created.key).then(setCopied)}>
              {copied ? t("action.copied") : t("action.copy")}
            </button>
            <button type="button" onClick={() => setCreated(null)}>
              {t("keys.saved")}
            </button>
          </div>
        </div>
      )}
      <form
        className="panel"
        onSubmit={(event) => {
          event.preventDefault();
          void create();
        }}
      >
        <h3>{t("keys.create")}</h3>
        <div className="form-grid">
          <label>
            <span>{t("keys.name")}</span>
            <input required maxLength={200} value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
          </label>
          <label>
            <span>{t("keys.role")}</span>
            <select value={draft.role} onChange={(e) => setDraft({ ...draft, role: e.target.value as Draft["role"] })}>
              <option value="user">{t("keys.roleUser")}</option>
              <option value="admin">{t("keys.roleAdmin")}</option>
            </select>
          </label>
          <label>
            <span>{t("keys.rate")}</span>
            <input value={draft.rate} placeholder="60/min" aria-describedby="rate-hint" onChange={(e) => setDraft({ ...draft, rate: e.target.value })} />
            <span id="rate-hint" className="hint">{t("keys.rateHint")}</span>
          </label>
          <label>
            <span>{t("keys.tokens")}</span>
            <input value={draft.tokens} placeholder="200000/day" aria-describedby="tokens-hint" onChange={(e) => setDraft({ ...draft, tokens: e.target.value })} />
            <span id="tokens-hint" className="hint">{t("keys.tokensHint")}</span>
          </label>
          <label>
            <span>{t("keys.models")}</span>
            <input value={draft.models} aria-describedby="models-hint" onChange={(e) => setDraft({ ...draft, models: e.target.value })} />
            <span id="models-hint" className="hint">{t("keys.modelsHint")}</span>
          </label>
          <label>
            <span>{t("keys.expires")}</span>
            <input type="date" value={draft.expires} onChange={(e) => setDraft({ ...draft, expires: e.target.value })} />
          </label>
          <label>
            <span>{t("keys.pii")}</span>
            <select value={draft.pii} onChange={(e) => setDraft({ ...draft, pii: e.target.value as Draft["pii"] })}>
              <option value="">{t("keys.piiDefault")}</option>
              <option value="mask">mask</option>
              <option value="block">block</option>
              <option value="allow">allow</option>
            </select>
          </label>
        </div>
        {formError && (
          <p className="form-error" role="alert">
            {formError}
          </p>
        )}
        <p>
          <button type="submit" className="button-primary" disabled={busy || !draft.name.trim()}>
            {t("keys.submit")}
          </button>
        </p>
      </form>
      <div className="panel table-wrap">
        <div className="status-head">
          <h3>{t("keys.list")}</h3>
          <label className="inline-field small">
            <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} />
            {t("keys.showRevoked")}
          </label>
        </div>
        {loadError !== null && <ErrorNotice error={loadError} onRetry={() => void load()} onSignIn={onSignIn} />}
        {keys !== null && keys.length === 0 && <p className="muted">{t("keys.none")}</p>}
        {shown.length > 0 && (
          <table className="data">
            <thead>
              <tr>
                <th scope="col">{t("keys.name")}</th>
                <th scope="col">{t("keys.id")}</th>
                <th scope="col">{t("keys.role")}</th>
                <th scope="col">{t("keys.limits")}</th>
                <th scope="col">{t("keys.state")}</th>
                <th scope="col">{t("keys.createdAt")}</th>
                <th scope="col">{t("keys.expires")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("keys.revoke")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((key) => (
                <tr key={key.id}>
                  <th scope="row">
                    {key.name}
                    {key.id === mine && <span className="badge">{t("keys.yours")}</span>}
                  </th>
                  <td>
                    <code>{key.id}</code>
                  </td>
                  <td>{key.role === "admin" ? t("keys.roleAdmin") : t("keys.roleUser")}</td>
                  <td className="small">
                    {t("keys.rate")}: {key.rate ?? t("keys.unlimited")}
                    <br />
                    {t("keys.tokens")}: {key.tokens ?? t("keys.unlimited")}
                    <br />
                    {t("keys.models")}: {key.models?.join(", ") ?? t("keys.allModels")}
                    {key.pii_policy && (
                      <>
                        <br />
                        {t("keys.pii")}: {key.pii_policy}
                      </>
                    )}
                  </td>
                  <td className={`state-${key.state}`}>{STATES.has(key.state) ? t(`keys.state.${key.state as "active" | "revoked" | "expired"}`) : key.state}</td>
                  <td>{date(key.created_at)}</td>
                  <td>{date(key.expires_at)}</td>
                  <td>
                    {key.state === "active" &&
                      (revoking === key.id ? (
                        <span className="history-confirm" role="group" aria-label={t("keys.revokeConfirm", { name: key.name })}>
                          <span>{t("keys.revokeConfirm", { name: key.name })}</span>
                          <button type="button" className="button-danger" onClick={() => void revoke(key.id)}>
                            {t("keys.revoke")}
                          </button>
                          <button type="button" onClick={() => setRevoking(null)} autoFocus>
                            {t("action.cancel")}
                          </button>
                        </span>
                      ) : (
                        <button type="button" className="button-danger" aria-label={t("keys.revokeLabel", { name: key.name })} onClick={() => setRevoking(key.id)}>
                          {t("keys.revoke")}
                        </button>
                      ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
