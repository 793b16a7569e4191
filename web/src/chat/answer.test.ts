import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SseParser } from "../api/sse";
import { CONTENT, REASONING, r1Stream } from "../test/fixtures";
import { applyEvent, finish, newAnswer, thinkingMs, type Answer } from "./answer";

/** Feed `text` cut at `cuts` through the parser and the reducer; the clock ticks once per event. */
function fold(text: string, cuts: number[] = []): Answer {
  const parser = new SseParser();
  let answer = newAnswer(0);
  let clock = 0;
  const apply = (events: string[]) => {
    for (const data of events) answer = applyEvent(answer, data, ++clock);
  };
  let last = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    apply(parser.push(text.slice(last, cut)));
    last = cut;
  }
  apply(parser.push(text.slice(last)));
  apply(parser.end());
  return answer;
}

describe("applyEvent", () => {
  it("splits reasoning from content and counts a reasoning text sent under both names once", () => {
    const answer = fold(r1Stream());
    expect(answer.reasoning).toBe(REASONING);
    expect(answer.content).toBe(CONTENT);
    expect(answer.id).toBe("chatcmpl-abc123");
    expect(answer.route?.model).toBe("smol-r1");
    expect(answer.finishReason).toBe("stop");
    expect(answer.usage?.completion_tokens_details?.reasoning_tokens).toBe(15);
    expect(answer.phase).toBe("done");
  });

  it("gives the same answer for any chunking of the byte stream", () => {
    const text = r1Stream();
    const whole = fold(text);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 80 }), (cuts) => {
        const split = fold(text, cuts);
        expect(split).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it("moves from waiting to reasoning to answering, ending the thinking when the answer starts", () => {
    const parser = new SseParser();
    const events = [...parser.push(r1Stream()), ...parser.end()];
    let answer = newAnswer(100);
    const phases: string[] = [];
    events.forEach((data, i) => {
      answer = applyEvent(answer, data, 1000 + i);
      if (phases.at(-1) !== answer.phase) phases.push(answer.phase);
    });
    expect(phases).toEqual(["waiting", "reasoning", "answering", "done"]);
    const firstContent = events.findIndex((data) => data.includes('"content":"The'));
    expect(answer.reasoningEndedAt).toBe(1000 + firstContent);
    expect(thinkingMs(answer, 99999)).toBe(1000 + firstContent - 100);
  });

  it("takes vLLM's `reasoning` name when `reasoning_content` is absent", () => {
    const data = JSON.stringify({ id: "x", model: "m", choices: [{ index: 0, delta: { reasoning: "hmm" }, finish_reason: null }] });
    expect(applyEvent(newAnswer(0), data, 1).reasoning).toBe("hmm");
  });

  it("keeps the route's degraded flag and a content_filter finish", () => {
    const first = JSON.stringify({
      id: "x",
      model: "m",
      route: { tier: "edge", model: "m", reason: "fallback", score: 0.9, target: null, degraded: true },
      choices: [{ index: 0, delta: { content: "partial" }, finish_reason: "content_filter" }],
    });
    const answer = applyEvent(newAnswer(0), first, 1);
    expect(answer.route?.degraded).toBe(true);
    expect(answer.finishReason).toBe("content_filter");
  });

  it("ends on an error event inside the stream", () => {
    const error = { message: "center went away", type: "service_unavailable", param: null, code: "center_unavailable" };
    const answer = applyEvent(newAnswer(0), JSON.stringify({ error }), 5);
    expect(answer.error).toEqual(error);
    expect(answer.phase).toBe("done");
  });

  it("closes an open reasoning block when the answer is cut off or stopped", () => {
    const data = JSON.stringify({ id: "x", model: "m", choices: [{ index: 0, delta: { reasoning_content: "a" }, finish_reason: null }] });
    const stopped = finish(applyEvent(newAnswer(0), data, 10), 30);
    expect(stopped.reasoningEndedAt).toBe(30);
    expect(thinkingMs(stopped, 1000)).toBe(30);
  });

  it("ignores events that are not JSON", () => {
    const answer = newAnswer(0);
    expect(applyEvent(answer, "keep-alive", 1)).toBe(answer);
  });
});
