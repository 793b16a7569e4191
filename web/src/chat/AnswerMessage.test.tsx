import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { Api, ApiError } from "../api/client";
import { translator } from "../i18n";
import { newAnswer, type Answer } from "./answer";
import { AnswerMessage, metaLine } from "./AnswerMessage";
import type { AnswerTurn } from "./turns";

const route = { tier: "edge" as const, model: "smollm2-135m", reason: "fallback", score: 0.8, target: null, degraded: true };

function render(answer: Partial<Answer>, turn: Partial<AnswerTurn> = {}): string {
  const full: AnswerTurn = {
    kind: "answer",
    key: "t1",
    answer: { ...newAnswer(0), phase: "done", content: "Hello", id: "chatcmpl-1", endedAt: 900, firstTokenAt: 200, ...answer },
    status: "done",
    failure: null,
    feedback: null,
    stored: false,
    ...turn,
  };
  const noop = () => undefined;
  return renderToStaticMarkup(
    <AnswerMessage api={new Api(null)} turn={full} last busy={false} onRegenerate={noop} onRetry={noop} onFeedback={noop} onSignIn={noop} />,
  );
}

describe("AnswerMessage", () => {
  it("says when the edge answered in the center's place", () => {
    expect(render({ route })).toContain("degraded");
    expect(render({ route: { ...route, degraded: false } })).not.toContain("degraded");
  });

  it("says when moderation cut the answer, or the token limit did", () => {
    expect(render({ finishReason: "content_filter" })).toContain("withheld by content moderation");
    expect(render({ finishReason: "length" })).toContain("token limit");
  });

  it("shows an error event from inside the stream in plain words, with a retry", () => {
    const error = { message: "center gone", type: "service_unavailable", param: null, code: "center_unavailable" };
    const html = render({ error }, { status: "failed", failure: ApiError.inStream(error) });
    expect(html).toContain("No center can answer for this model right now");
    expect(html).toContain(">Retry</button>");
  });

  it("offers feedback only on answers the server has an id for", () => {
    expect(render({})).toContain('aria-label="Good answer"');
    expect(render({ id: null })).not.toContain('aria-label="Good answer"');
  });
});

describe("metaLine", () => {
  it("gives tokens, time to first token, total time and speed", () => {
    const usage = { prompt_tokens: 9, completion_tokens: 15, total_tokens: 24, completion_tokens_details: { reasoning_tokens: 5 } };
    const answer: Answer = { ...newAnswer(100), model: "m", usage, firstTokenAt: 300, endedAt: 1700 };
    expect(metaLine(answer, false, translator("en"))).toEqual(["m", "15 tokens (5 reasoning)", "prompt 9", "first token 0.20 s", "total 1.60 s", "10.0 tokens/s"]);
    expect(metaLine({ ...answer, route }, true, translator("zh-CN"))).toEqual(["smollm2-135m (边缘)", "15 个 token（推理 5）", "提示 9"]);
  });
});
