import { useEffect, useState } from "react";
import { useI18n } from "../i18n";
import { explain } from "./errors";

interface Props {
  error: unknown;
  onRetry?: () => void;
  onSignIn?: () => void;
}

/** An error in plain words; Retry waits out `Retry-After` first. */
export function ErrorNotice({ error, onRetry, onSignIn }: Props) {
  const { t } = useI18n();
  const explained = explain(error, t);
  const [wait, setWait] = useState(explained.retryAfter ?? 0);
  useEffect(() => {
    setWait(explained.retryAfter ?? 0);
  }, [error, explained.retryAfter]);
  useEffect(() => {
    if (wait <= 0) return;
    const timer = window.setTimeout(() => setWait((s) => s - 1), 1000);
    return () => window.clearTimeout(timer);
  }, [wait]);
  return (
    <div className="notice notice-error" role="alert">
      <p className="notice-title">{explained.title}</p>
      {explained.detail && (
        <details className="notice-detail">
          <summary>{t("error.details")}</summary>
          <p>{explained.detail}</p>
        </details>
      )}
      <div className="notice-actions">
        {explained.signIn && onSignIn && (
          <button type="button" onClick={onSignIn}>
            {t("login.again")}
          </button>
        )}
        {onRetry && (
          <button type="button" onClick={onRetry} disabled={wait > 0}>
            {wait > 0 ? t("error.retryIn", { s: wait }) : t("error.retry")}
          </button>
        )}
      </div>
    </div>
  );
}
