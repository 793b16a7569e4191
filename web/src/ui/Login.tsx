import { useState } from "react";
import { Api } from "../api/client";
import { useI18n } from "../i18n";
import { explain } from "./errors";
import { LanguageSelect } from "./LanguageSelect";

interface Props {
  /** Why the login shows (a stored key was refused), if any. */
  reason: string | null;
  onKey: (key: string) => void;
}

export function Login({ reason, onKey }: Props) {
  const { t } = useI18n();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(reason);
  const [checking, setChecking] = useState(false);
  const submit = async () => {
    const value = key.trim();
    if (!value) return;
    setChecking(true);
    setError(null);
    try {
      await new Api(value).get("/v1/models");
      onKey(value);
    } catch (caught) {
      setError(explain(caught, t).title);
    } finally {
      setChecking(false);
    }
  };
  return (
    <main className="login" id="main">
      <form
        className="login-card"
        onSubmit={(event) => {
          event.preventDefault();
          void submit();
        }}
      >
        <div className="login-head">
          <h1 className="brand">deepfort</h1>
          <LanguageSelect />
        </div>
        <p>{t("login.intro")}</p>
        <label htmlFor="api-key">{t("login.key")}</label>
        <input id="api-key" type="password" autoComplete="off" spellCheck={false} placeholder="df-…" value={key} onChange={(event) => setKey(event.target.value)} autoFocus aria-describedby="api-key-note" aria-invalid={error ? true : undefined} />
        <p id="api-key-note" className="muted small">
          {t("login.note")}
        </p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="button-primary" disabled={checking || !key.trim()}>
          {checking ? t("login.checking") : t("login.submit")}
        </button>
      </form>
    </main>
  );
}
