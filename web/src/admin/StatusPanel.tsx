import { useState } from "react";
import type { Api } from "../api/client";
import { useI18n } from "../i18n";
import { ErrorNotice } from "../ui/ErrorNotice";
import { useStatus } from "./useStatus";

function ms(seconds: number | null): string {
  if (seconds === null) return "–";
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
}

export function StatusPanel({ api, onSignIn }: { api: Api; onSignIn: () => void }) {
  const { t, lang } = useI18n();
  const [paused, setPaused] = useState(false);
  const { status, error } = useStatus(api, paused);
  const scope = status?.ttft.scope ?? "none";
  const scopeLabel = scope === "window" ? t("status.window") : scope === "sinceStart" ? t("status.sinceStart") : t("status.noData");
  return (
    <section className="admin-section" aria-labelledby="status-heading">
      <div className="status-head">
        <h2 id="status-heading">{t("admin.status")}</h2>
        <div className="inline-field">
          {status && (
            <span className="muted small" aria-live="off">
              {status.ready ? t("status.ready") : t("status.loading")} · {t("status.updated", { time: status.updatedAt.toLocaleTimeString(lang) })}
            </span>
          )}
          <button type="button" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
            {paused ? t("status.resume") : t("status.pause")}
          </button>
        </div>
      </div>
      {error !== null && <ErrorNotice error={error} onSignIn={onSignIn} />}
      <dl className="cards">
        <div className="card">
          <dt>{t("status.running")}</dt>
          <dd data-testid="running">{status?.running ?? "–"}</dd>
        </div>
        <div className="card">
          <dt>{t("status.waiting")}</dt>
          <dd data-testid="waiting">{status?.waiting ?? "–"}</dd>
        </div>
        <div className="card">
          <dt>{t("status.ttft50")}</dt>
          <dd data-testid="ttft-p50">
            {ms(status?.ttft.p50 ?? null)} <span className="small">{scopeLabel}</span>
          </dd>
        </div>
        <div className="card">
          <dt>{t("status.ttft95")}</dt>
          <dd data-testid="ttft-p95">
            {ms(status?.ttft.p95 ?? null)} <span className="small">{scopeLabel}</span>
          </dd>
        </div>
        <div className="card">
          <dt>{t("status.tokensPerSecond")}</dt>
          <dd data-testid="tokens-per-second">{status?.tokensPerSecond == null ? "–" : status.tokensPerSecond.toFixed(1)}</dd>
        </div>
      </dl>
      {status && (
        <div className="panel table-wrap">
          <table className="data">
            <caption className="visually-hidden">{t("admin.status")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("status.model")}</th>
                <th scope="col">{t("status.running")}</th>
                <th scope="col">{t("status.waiting")}</th>
                <th scope="col">{t("status.slots")}</th>
                <th scope="col">{t("status.queue")}</th>
                <th scope="col">{t("status.kv")}</th>
                <th scope="col">{t("status.finished")}</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(status.stats.models).map(([id, m]) => (
                <tr key={id}>
                  <th scope="row">{id}</th>
                  <td className="num">{m.running}</td>
                  <td className="num">{m.waiting}</td>
                  <td className="num">{m.slots}</td>
                  <td className="num">{m.queue_size}</td>
                  <td className="num">{m.kv_cells_total ? `${Math.round((100 * m.kv_cells_used) / m.kv_cells_total)}%` : "–"}</td>
                  <td className="num">{m.finished_total}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {status?.stats.centers && status.stats.centers.length > 0 && (
        <div className="panel table-wrap">
          <h3>{t("status.centers")}</h3>
          <table className="data">
            <thead>
              <tr>
                <th scope="col">{t("status.target")}</th>
                <th scope="col">{t("status.health")}</th>
                <th scope="col">{t("status.breaker")}</th>
                <th scope="col">{t("status.outstanding")}</th>
                <th scope="col">{t("status.lastError")}</th>
              </tr>
            </thead>
            <tbody>
              {status.stats.centers.map((c) => (
                <tr key={String(c.target)}>
                  <th scope="row">{String(c.target)}</th>
                  <td className={c.healthy ? "state-active" : "state-revoked"}>{c.healthy ? t("status.up") : t("status.down")}</td>
                  <td>{String(c.breaker ?? "–")}</td>
                  <td className="num">{String(c.outstanding ?? 0)}</td>
                  <td>{c.last_error ? String(c.last_error) : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {status && (
        <div className="panel">
          <h3>{t("status.alerts")}</h3>
          {status.alerts.length === 0 ? (
            <p className="muted">{t("status.noAlerts")}</p>
          ) : (
            <ul>
              {status.alerts.map((alert) => (
                <li key={`${alert.name}${JSON.stringify(alert.labels)}`}>
                  <strong>{alert.name}</strong> ({alert.state}) {alert.annotations?.summary ?? ""}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
