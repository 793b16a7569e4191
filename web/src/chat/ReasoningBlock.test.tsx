import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SseParser } from "../api/sse";
import { r1Stream } from "../test/fixtures";
import { applyEvent, newAnswer, thinkingMs } from "./answer";
import { ReasoningBlock, reasoningOpen } from "./ReasoningBlock";

const isOpen = (html: string) => /<details[^>]*\sopen=""/.test(html);

describe("ReasoningBlock", () => {
  it("is open while thinking and collapses once the answer starts", () => {
    const parser = new SseParser();
    let answer = newAnswer(0);
    const seen: { open: boolean; answering: boolean; html: string }[] = [];
    for (const [i, data] of [...parser.push(r1Stream()), ...parser.end()].entries()) {
      answer = applyEvent(answer, data, (i + 1) * 100);
      if (!answer.reasoning) continue;
      const html = renderToStaticMarkup(<ReasoningBlock text={answer.reasoning} phase={answer.phase} ms={thinkingMs(answer, (i + 1) * 100)} />);
      seen.push({ open: isOpen(html), answering: answer.content !== "", html });
    }
    expect(seen.some((s) => s.open)).toBe(true);
    for (const step of seen) expect(step.open).toBe(!step.answering);
    const last = seen.at(-1)!.html;
    expect(last).toContain("Thought for");
    expect(last).toContain("Rayleigh scattering");
    expect(seen[0]!.html).toContain("Thinking…");
  });

  it("shows the time spent thinking", () => {
    const html = renderToStaticMarkup(<ReasoningBlock text="…" phase="done" ms={2345} />);
    expect(html).toContain("Thought for 2.3 s");
  });

  it("follows the reader's own choice over the automatic one", () => {
    expect(reasoningOpen("reasoning", null)).toBe(true);
    expect(reasoningOpen("answering", null)).toBe(false);
    expect(reasoningOpen("answering", true)).toBe(true);
    expect(reasoningOpen("reasoning", false)).toBe(false);
  });
});
