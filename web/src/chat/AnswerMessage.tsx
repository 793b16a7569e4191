import { useState } from "react";
import { ApiError, type Api } from "../api/client";
import type { ErrorBody } from "../api/types";
import { useI18n, type Translate } from "../i18n";
import { Markdown } from "../markdown/Markdown";
import { copyText } from "../ui/clipboard";
import { ErrorNotice } from "../ui/ErrorNotice";
import { useNow } from "../ui/useNow";
import { thinkingMs, type Answer } from "./answer";
import { FeedbackBar } from "./FeedbackBar";
import { ReasoningBlock } from "./ReasoningBlock";
import type { AnswerTurn, Feedback } from "./turns";
import { Icon } from "../ui/Icon";

interface Props {
  api: Api;
  turn: AnswerTurn;
  last: boolean;
  busy: boolean;
  onRegenerate: () => void;
  onRetry: () => void;
  onFeedback: (feedback: Feedback) => void;
  onSignIn: () => void;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(ms < 10000 ? 2 : 1);
}

/** Model, tokens and timings of one answer, e.g. "smollm2-135m · 42 tokens · first token 0.31 s · 1.20 s". */
export function metaLine(answer: Answer, stored: boolean, t: Translate): string[] {
  const parts: string[] = [];
  const model = answer.route?.model ?? answer.model;
  if (model) parts.push(answer.route ? `${model} (${t(`tier.${answer.route.tier}`)})` : model);
  const usage = answer.usage;
  if (usage) {
    const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0;
    parts.push(
      reasoning
        ? t("meta.tokensReasoning", { n: usage.completion_tokens, r: reasoning })
        : t("meta.tokens", { n: usage.completion_tokens }),
    );
    parts.push(t("meta.prompt", { n: usage.prompt_tokens }));
  }
  if (!stored && answer.firstTokenAt !== null) parts.push(t("meta.ttft", { s: seconds(answer.firstTokenAt - answer.startedAt) }));
  if (!stored && answer.endedAt !== null) {
    parts.push(t("meta.total", { s: seconds(answer.endedAt - answer.startedAt) }));
    if (usage && answer.firstTokenAt !== null && answer.endedAt > answer.firstTokenAt && usage.completion_tokens > 1) {
      const rate = (usage.completion_tokens - 1) / ((answer.endedAt - answer.firstTokenAt) / 1000);
      parts.push(t("meta.rate", { n: rate.toFixed(1) }));
    }
  }
  return parts;
}

export function AnswerMessage({ api, turn, last, busy, onRegenerate, onRetry, onFeedback, onSignIn }: Props) {
  const { t } = useI18n();
  const { answer, status } = turn;
  const streaming = status === "streaming";
  const now = useNow(streaming && answer.phase === "reasoning");
  const [copied, setCopied] = useState(false);
  const filtered = answer.finishReason === "content_filter";
  const degraded = answer.route?.degraded === true;
  const failure = status === "failed" ? (turn.failure ?? answer.error) : null;

  return (
    <article className="message message-answer" aria-busy={streaming} aria-label={t("chat.answer")}>
      {answer.reasoning && <ReasoningBlock text={answer.reasoning} phase={answer.phase} ms={turn.stored ? null : thinkingMs(answer, now)} />}
      {answer.content ? (
        <Markdown text={answer.content} />
      ) : (
        streaming && answer.phase === "waiting" && <p className="typing" aria-label={t("chat.waiting")}><span /><span /><span /></p>
      )}
      {degraded && <p className="notice notice-warn">{t("notice.degraded")}</p>}
      {filtered && <p className="notice notice-warn">{t("notice.filtered")}</p>}
      {answer.finishReason === "length" && <p className="notice">{t("notice.length")}</p>}
      {status === "stopped" && <p className="notice">{t("notice.stopped")}</p>}
      {failure !== null && failure !== undefined && (
        <ErrorNotice error={failure instanceof Error ? failure : ApiError.inStream(failure as ErrorBody)} onRetry={last && !busy ? onRetry : undefined} onSignIn={onSignIn} />
      )}
      {!streaming && (
        <footer className="message-footer">
          <p className="meta">{metaLine(answer, turn.stored, t).join(" · ")}</p>
          <div className="message-actions">
            {answer.content && (
              <button
                type="button"
                className="icon-button"
                aria-label={t("action.copy")}
                title={t("action.copy")}
                onClick={() => void copyText(answer.content).then((ok) => {
                  setCopied(ok);
                  window.setTimeout(() => setCopied(false), 1500);
                })}
              >
                <Icon name={copied ? "check" : "copy"} />
              </button>
            )}
            {last && (
              <button type="button" className="icon-button" aria-label={t("chat.regenerate")} title={t("chat.regenerate")} disabled={busy} onClick={onRegenerate}>
                <Icon name="refresh" />
              </button>
            )}
            {answer.id && status !== "failed" && <FeedbackBar api={api} responseId={answer.id} feedback={turn.feedback} onChange={onFeedback} />}
          </div>
        </footer>
      )}
    </article>
  );
}
