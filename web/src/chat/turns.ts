/** A chat as the console holds it: user turns and answer turns, and what goes back to the server. */
import type { ChatMessage, Conversation } from "../api/types";
import { newAnswer, type Answer } from "./answer";

export type Rating = "up" | "down";

export interface Feedback {
  rating: Rating;
  correction: string;
  sent: boolean;
}

export interface UserTurn {
  kind: "user";
  key: string;
  content: string;
}

export interface AnswerTurn {
  kind: "answer";
  key: string;
  answer: Answer;
  status: "streaming" | "done" | "stopped" | "failed";
  failure: unknown;
  feedback: Feedback | null;
  /** Loaded from a stored conversation: no timings. */
  stored: boolean;
}

export type Turn = UserTurn | AnswerTurn;

let counter = 0;
export function turnKey(): string {
  counter += 1;
  return `t${counter}`;
}

/** The messages to send for `turns`: answers without their reasoning (DeepSeek's API says not to send it
 * back), failed or empty answers left out. */
export function toMessages(turns: Turn[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const turn of turns) {
    if (turn.kind === "user") messages.push({ role: "user", content: turn.content });
    else if (turn.status !== "failed" && turn.answer.content) messages.push({ role: "assistant", content: turn.answer.content });
  }
  return messages;
}

/** A stored conversation as turns. Stored answers carry their request id, which is what feedback names. */
export function fromConversation(conversation: Conversation): Turn[] {
  return conversation.messages.map((message): Turn => {
    if (message.role !== "assistant") return { kind: "user", key: turnKey(), content: message.content };
    const answer: Answer = {
      ...newAnswer(0),
      id: message.request_id ? `chatcmpl-${message.request_id}` : null,
      model: message.model,
      reasoning: message.reasoning ?? "",
      content: message.content,
      phase: "done",
      usage: {
        prompt_tokens: message.prompt_tokens,
        completion_tokens: message.completion_tokens,
        total_tokens: message.prompt_tokens + message.completion_tokens,
      },
    };
    return { kind: "answer", key: turnKey(), answer, status: "done", failure: null, feedback: null, stored: true };
  });
}
