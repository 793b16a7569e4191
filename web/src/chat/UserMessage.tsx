import { useState } from "react";
import { useI18n } from "../i18n";
import type { UserTurn } from "./turns";
import { Icon } from "../ui/Icon";

interface Props {
  turn: UserTurn;
  busy: boolean;
  onResend: (content: string) => void;
}

/** The user's message; "edit" turns it into a form that sends the edited text in its place. */
export function UserMessage({ turn, busy, onResend }: Props) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<string | null>(null);
  if (draft !== null) {
    return (
      <form
        className="message message-user editing"
        onSubmit={(event) => {
          event.preventDefault();
          if (!draft.trim()) return;
          setDraft(null);
          onResend(draft);
        }}
      >
        <label className="visually-hidden" htmlFor={`edit-${turn.key}`}>
          {t("chat.editLabel")}
        </label>
        <textarea
          id={`edit-${turn.key}`}
          value={draft}
          rows={Math.min(10, draft.split("\n").length + 1)}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Escape") setDraft(null);
          }}
          autoFocus
        />
        <div className="message-actions">
          <button type="submit" disabled={busy || !draft.trim()}>
            {t("chat.saveResend")}
          </button>
          <button type="button" onClick={() => setDraft(null)}>
            {t("action.cancel")}
          </button>
        </div>
      </form>
    );
  }
  return (
    <div className="message message-user">
      <div className="message-body">{turn.content}</div>
      <div className="message-actions">
        <button type="button" className="icon-button" onClick={() => setDraft(turn.content)} disabled={busy} aria-label={t("chat.edit")} title={t("chat.edit")}>
          <Icon name="edit" />
        </button>
      </div>
    </div>
  );
}
