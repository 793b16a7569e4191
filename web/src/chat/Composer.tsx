import { useRef, useState, type KeyboardEvent } from "react";
import { useI18n } from "../i18n";

interface Props {
  busy: boolean;
  disabled: boolean;
  onSend: (text: string) => void;
  onStop: () => void;
}

export function Composer({ busy, disabled, onSend, onStop }: Props) {
  const { t } = useI18n();
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);
  const submit = () => {
    if (busy || disabled || !text.trim()) return;
    onSend(text);
    setText("");
    area.current?.focus();
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter breaks the line; never while an input method is composing (pinyin).
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  };
  return (
    <form
      className="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <label htmlFor="composer-input" className="visually-hidden">
        {t("chat.message")}
      </label>
      <textarea
        id="composer-input"
        ref={area}
        value={text}
        rows={Math.min(8, Math.max(1, text.split("\n").length))}
        placeholder={t("chat.placeholder")}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={onKeyDown}
        disabled={disabled}
        aria-describedby="composer-hint"
      />
      <p id="composer-hint" className="visually-hidden">
        {t("chat.hint")}
      </p>
      {busy ? (
        <button type="button" className="button-stop" onClick={onStop}>
          {t("chat.stop")}
        </button>
      ) : (
        <button type="submit" className="button-primary" disabled={disabled || !text.trim()}>
          {t("chat.send")}
        </button>
      )}
    </form>
  );
}
