/**
 * One streamed answer, folded from the events of `/v1/chat/completions`: a pure reducer, so the same
 * events give the same answer however the bytes were split on the way.
 */
import type { ChatChunk, ErrorBody, Route, Usage } from "../api/types";

export type Phase = "waiting" | "reasoning" | "answering" | "done";

export interface Answer {
  id: string | null;
  model: string | null;
  route: Route | null;
  reasoning: string;
  content: string;
  finishReason: string | null;
  usage: Usage | null;
  /** An error event inside the stream (the status line had already gone out as 200). */
  error: ErrorBody | null;
  phase: Phase;
  startedAt: number;
  firstTokenAt: number | null;
  reasoningStartedAt: number | null;
  reasoningEndedAt: number | null;
  endedAt: number | null;
}

export function newAnswer(startedAt: number): Answer {
  return {
    id: null,
    model: null,
    route: null,
    reasoning: "",
    content: "",
    finishReason: null,
    usage: null,
    error: null,
    phase: "waiting",
    startedAt,
    firstTokenAt: null,
    reasoningStartedAt: null,
    reasoningEndedAt: null,
    endedAt: null,
  };
}

/** End the answer (the stream closed, was stopped, or failed): an open reasoning block closes too. */
export function finish(answer: Answer, now: number): Answer {
  if (answer.phase === "done") return answer;
  return {
    ...answer,
    phase: "done",
    endedAt: now,
    reasoningEndedAt:
      answer.reasoningStartedAt !== null && answer.reasoningEndedAt === null ? now : answer.reasoningEndedAt,
  };
}

/** Fold the data of one server-sent event into the answer. */
export function applyEvent(answer: Answer, data: string, now: number): Answer {
  if (data === "[DONE]") return finish(answer, now);
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return answer; // not ours to interpret (a proxy's keep-alive, say)
  }
  if (!parsed || typeof parsed !== "object") return answer;
  if ("error" in parsed) {
    return finish({ ...answer, error: (parsed as { error: ErrorBody }).error }, now);
  }
  const chunk = parsed as ChatChunk;
  const next: Answer = { ...answer };
  next.id ??= chunk.id ?? null;
  next.model ??= chunk.model ?? null;
  if (chunk.route) next.route = chunk.route;
  if (chunk.usage) next.usage = chunk.usage;
  const choice = chunk.choices?.find((c) => c.index === 0);
  if (!choice) return next;
  // deepfort sends both names for the same text; count it once.
  const thought = choice.delta.reasoning_content ?? choice.delta.reasoning ?? "";
  const said = choice.delta.content ?? "";
  if (thought) {
    next.reasoning += thought;
    next.reasoningStartedAt ??= now;
    if (next.phase === "waiting") next.phase = "reasoning";
  }
  if (said) {
    next.content += said;
    if (next.reasoningStartedAt !== null && next.reasoningEndedAt === null) next.reasoningEndedAt = now;
    if (next.phase !== "done") next.phase = "answering";
  }
  if ((thought || said) && next.firstTokenAt === null) next.firstTokenAt = now;
  if (choice.finish_reason) next.finishReason = choice.finish_reason;
  return next;
}

/** Milliseconds spent thinking, or null when there was no reasoning. Still thinking: until `now`. */
export function thinkingMs(answer: Answer, now: number): number | null {
  if (answer.reasoningStartedAt === null) return null;
  // Counted from the request, as a reader experiences it: the first reasoning token follows the prompt.
  return (answer.reasoningEndedAt ?? now) - answer.startedAt;
}
