/** The chat's state and its requests: send, stop, regenerate, edit-and-resend, load a stored conversation. */
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, isAbort, type Api } from "../api/client";
import type { Conversation } from "../api/types";
import { applyEvent, finish, newAnswer } from "./answer";
import { fromConversation, toMessages, turnKey, type AnswerTurn, type Feedback, type Turn } from "./turns";

export interface ChatOptions {
  model: string;
  temperature: number | null;
  maxTokens: number | null;
  thinkingBudget: number | null;
}

export const CONVERSATION_HEADER = "x-deepfort-conversation-id";

export function requestBody(turns: Turn[], options: ChatOptions, conversation: string | null): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: options.model,
    messages: toMessages(turns),
    stream: true,
    stream_options: { include_usage: true },
    conversation_id: conversation ?? "new",
  };
  if (options.temperature !== null) body.temperature = options.temperature;
  if (options.maxTokens !== null) body.max_tokens = options.maxTokens;
  if (options.thinkingBudget !== null) body.thinking_token_budget = options.thinkingBudget;
  return body;
}

interface Hooks {
  /** A conversation was created (`created`) or got new messages. */
  onConversation: (id: string, created: boolean) => void;
}

/** `fresh` changes when the user asks for a new chat while already on one that has no stored id yet. */
export function useChat(api: Api, routed: string | null, fresh: number, options: ChatOptions, hooks: Hooks) {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [busy, setBusy] = useState(false);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  /** Where the next message goes (null: a new conversation). */
  const conversation = useRef<string | null>(null);
  /** The stored conversation whose turns are on screen (loaded, or created by this page). */
  const shown = useRef<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const hooksRef = useRef(hooks);
  hooksRef.current = hooks;
  const lastFresh = useRef(fresh);

  // Follow the address bar: a new chat, or a stored conversation (not the one this page just created).
  useEffect(() => {
    if (routed === shown.current && fresh === lastFresh.current) return;
    lastFresh.current = fresh;
    abort.current?.abort();
    conversation.current = routed;
    setLoadError(null);
    setTurns([]);
    if (routed === null) {
      shown.current = null;
      return;
    }
    const controller = new AbortController();
    setLoading(true);
    api
      .get<Conversation>(`/v1/conversations/${encodeURIComponent(routed)}`, controller.signal)
      .then((stored) => {
        shown.current = routed;
        setTurns(fromConversation(stored));
      })
      .catch((error: unknown) => {
        if (!isAbort(error)) setLoadError(error);
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [api, routed, fresh]);

  useEffect(() => () => abort.current?.abort(), []);

  const run = useCallback(
    async (base: Turn[]) => {
      const controller = new AbortController();
      abort.current = controller;
      const key = turnKey();
      let turn: AnswerTurn = { kind: "answer", key, answer: newAnswer(performance.now()), status: "streaming", failure: null, feedback: null, stored: false };
      const show = (next: AnswerTurn) => {
        turn = next;
        setTurns((current) => current.map((item) => (item.key === key ? next : item)));
      };
      setTurns([...base, turn]);
      setBusy(true);
      let answer = turn.answer;
      let frame = 0;
      const settle = (status: AnswerTurn["status"], failure: unknown = null) => {
        cancelAnimationFrame(frame);
        frame = 0;
        answer = finish(answer, performance.now());
        show({ ...turn, answer, status, failure });
      };
      try {
        const body = requestBody(base, options, conversation.current);
        const { headers, events } = await api.stream("/v1/chat/completions", body, controller.signal);
        const id = headers.get(CONVERSATION_HEADER);
        if (id && id !== conversation.current) {
          conversation.current = id;
          shown.current = id;
          hooksRef.current.onConversation(id, true);
        }
        for await (const data of events) {
          answer = applyEvent(answer, data, performance.now());
          // At most one render per frame, however fast tokens come.
          frame ||= requestAnimationFrame(() => {
            frame = 0;
            show({ ...turn, answer });
          });
        }
        if (answer.error) settle("failed", ApiError.inStream(answer.error));
        else settle("done");
      } catch (error) {
        if (isAbort(error)) settle("stopped");
        else settle("failed", error);
      } finally {
        if (abort.current === controller) abort.current = null;
        setBusy(false);
        if (conversation.current) hooksRef.current.onConversation(conversation.current, false);
      }
    },
    [api, options],
  );

  const send = useCallback(
    (text: string) => {
      if (busy || !text.trim()) return;
      void run([...turns, { kind: "user", key: turnKey(), content: text }]);
    },
    [busy, run, turns],
  );

  const stop = useCallback(() => abort.current?.abort(), []);

  /** Ask again for the last answer (after a failure, or for a different one). */
  const regenerate = useCallback(() => {
    if (busy) return;
    const last = turns.length - 1;
    if (last < 0 || turns[last]!.kind !== "answer") return;
    void run(turns.slice(0, last));
  }, [busy, run, turns]);

  const resend = useCallback(
    (key: string, content: string) => {
      if (busy) return;
      const index = turns.findIndex((turn) => turn.key === key);
      if (index < 0) return;
      void run([...turns.slice(0, index), { kind: "user", key: turnKey(), content }]);
    },
    [busy, run, turns],
  );

  const setFeedback = useCallback((key: string, feedback: Feedback) => {
    setTurns((current) => current.map((turn) => (turn.key === key && turn.kind === "answer" ? { ...turn, feedback } : turn)));
  }, []);

  return { turns, busy, loading, loadError, send, stop, regenerate, resend, setFeedback };
}
