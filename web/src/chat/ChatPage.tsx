import { useEffect, useRef } from "react";
import type { Api } from "../api/client";
import type { ModelCard } from "../api/types";
import { useI18n } from "../i18n";
import { ErrorNotice } from "../ui/ErrorNotice";
import { AnswerMessage } from "./AnswerMessage";
import { ChatOptionsBar } from "./ChatOptionsBar";
import { Composer } from "./Composer";
import { isDemo } from "./demo";
import { DemoNotice } from "./DemoNotice";
import { UserMessage } from "./UserMessage";
import { useChat, type ChatOptions } from "./useChat";

interface Props {
  api: Api;
  models: ModelCard[];
  conversation: string | null;
  fresh: number;
  options: ChatOptions;
  onOptions: (options: ChatOptions) => void;
  onConversation: (id: string, created: boolean) => void;
  onSignIn: () => void;
}

export function ChatPage({ api, models, conversation, fresh, options, onOptions, onConversation, onSignIn }: Props) {
  const { t } = useI18n();
  const chat = useChat(api, conversation, fresh, options, { onConversation });
  const transcript = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);

  // Keep the newest text in view while the reader stays at the bottom.
  useEffect(() => {
    const box = transcript.current;
    if (box && pinned.current) box.scrollTop = box.scrollHeight;
  }, [chat.turns]);

  const lastIndex = chat.turns.length - 1;
  const streaming = chat.turns.some((turn) => turn.kind === "answer" && turn.status === "streaming");
  return (
    <section className="chat" aria-label={t("chat.title")}>
      <ChatOptionsBar models={models} options={options} onChange={onOptions} />
      {isDemo(models, options.model) && <DemoNotice model={options.model} />}
      <div
        className="transcript"
        ref={transcript}
        onScroll={(event) => {
          const box = event.currentTarget;
          pinned.current = box.scrollHeight - box.scrollTop - box.clientHeight < 48;
        }}
      >
        {chat.loading && <p className="muted">{t("chat.loading")}</p>}
        {chat.loadError !== null && <ErrorNotice error={chat.loadError} onSignIn={onSignIn} />}
        {!chat.loading && chat.loadError === null && chat.turns.length === 0 && (
          <div className="empty">
            <h2>{t("chat.welcome")}</h2>
            <p className="muted">{t("chat.welcomeHint")}</p>
          </div>
        )}
        {chat.turns.map((turn, index) =>
          turn.kind === "user" ? (
            <UserMessage key={turn.key} turn={turn} busy={chat.busy} onResend={(content) => chat.resend(turn.key, content)} />
          ) : (
            <AnswerMessage
              key={turn.key}
              api={api}
              turn={turn}
              last={index === lastIndex}
              busy={chat.busy}
              onRegenerate={chat.regenerate}
              onRetry={chat.regenerate}
              onFeedback={(feedback) => chat.setFeedback(turn.key, feedback)}
              onSignIn={onSignIn}
            />
          ),
        )}
      </div>
      <p className="visually-hidden" role="status" aria-live="polite">
        {streaming ? t("chat.generating") : ""}
      </p>
      <Composer busy={chat.busy} disabled={chat.loading || models.length === 0} onSend={chat.send} onStop={chat.stop} />
    </section>
  );
}
