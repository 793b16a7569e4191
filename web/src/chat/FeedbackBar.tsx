import { useState } from "react";
import type { Api } from "../api/client";
import { useI18n } from "../i18n";
import type { Feedback, Rating } from "./turns";
import { Icon } from "../ui/Icon";

interface Props {
  api: Api;
  responseId: string;
  feedback: Feedback | null;
  onChange: (feedback: Feedback) => void;
}

/** Thumbs up sends at once; thumbs down asks for an optional correction first. */
export function FeedbackBar({ api, responseId, feedback, onChange }: Props) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<Feedback | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  const send = async (value: Feedback) => {
    setSending(true);
    setError(null);
    try {
      await api.json("POST", "/v1/feedback", {
        response_id: responseId,
        rating: value.rating,
        correction: value.correction.trim() || null,
      });
      setDraft(null);
      onChange({ ...value, sent: true });
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setSending(false);
    }
  };
  const rate = (rating: Rating) => {
    const value = { rating, correction: draft?.correction ?? "", sent: false };
    if (rating === "up") void send(value);
    else setDraft(value);
  };
  const chosen = draft?.rating ?? feedback?.rating ?? null;

  return (
    <div className="feedback">
      <div className="feedback-buttons" role="group" aria-label={t("feedback.label")}>
        <button type="button" className="icon-button" aria-pressed={chosen === "up"} aria-label={t("feedback.up")} title={t("feedback.up")} disabled={sending} onClick={() => rate("up")}>
          <Icon name="up" />
        </button>
        <button type="button" className="icon-button" aria-pressed={chosen === "down"} aria-label={t("feedback.down")} title={t("feedback.down")} disabled={sending} onClick={() => rate("down")}>
          <Icon name="down" />
        </button>
        {feedback?.sent && !draft && <span className="feedback-thanks" role="status">{t("feedback.thanks")}</span>}
      </div>
      {draft && (
        <form
          className="feedback-form"
          onSubmit={(event) => {
            event.preventDefault();
            void send(draft);
          }}
        >
          <label htmlFor={`correction-${responseId}`}>{t("feedback.correction")}</label>
          <textarea
            id={`correction-${responseId}`}
            rows={3}
            value={draft.correction}
            placeholder={t("feedback.correctionHint")}
            onChange={(event) => setDraft({ ...draft, correction: event.target.value })}
          />
          <div className="message-actions">
            <button type="submit" disabled={sending}>
              {t("feedback.send")}
            </button>
            <button type="button" onClick={() => setDraft(null)}>
              {t("action.cancel")}
            </button>
          </div>
        </form>
      )}
      {error && <p className="form-error" role="alert">{error}</p>}
    </div>
  );
}
