import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { r1Stream } from "../test/fixtures";
import { readSse, SseParser } from "./sse";

function parseWhole(text: string): string[] {
  const parser = new SseParser();
  return [...parser.push(text), ...parser.end()];
}

function parseSplit(text: string, cuts: number[]): string[] {
  const parser = new SseParser();
  const out: string[] = [];
  let last = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    out.push(...parser.push(text.slice(last, cut)));
    last = cut;
  }
  out.push(...parser.push(text.slice(last)), ...parser.end());
  return out;
}

describe("SseParser", () => {
  it("reads data fields, ignoring comments and other fields", () => {
    const text = ": keep-alive\nevent: message\nid: 7\ndata: one\n\ndata:two\ndata: lines\n\nretry: 10\n\n";
    expect(parseWhole(text)).toEqual(["one", "two\nlines"]);
  });

  it("accepts CRLF and CR line endings", () => {
    expect(parseWhole("data: a\r\n\r\ndata: b\r\rdata: c\n\n")).toEqual(["a", "b", "c"]);
  });

  it("keeps a last event that lacks its blank line", () => {
    expect(parseWhole("data: [DONE]")).toEqual(["[DONE]"]);
  });

  it("gives the same events however the text is split", () => {
    const text = r1Stream().replace(/\n\n/g, (m, at: number) => (at % 3 === 0 ? "\r\n\r\n" : m));
    const whole = parseWhole(text);
    expect(whole.length).toBeGreaterThan(10);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 60 }), (cuts) => {
        expect(parseSplit(text, cuts)).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it("splits a CRLF across pieces without inventing an empty event", () => {
    expect(parseSplit("data: a\r\ndata: b\r\n\r\n", [7, 8, 17, 18])).toEqual(["a\nb"]);
  });
});

describe("readSse", () => {
  it("decodes UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode("data: 天空是蓝色的\n\ndata: [DONE]\n\n");
    const pieces = [bytes.slice(0, 8), bytes.slice(8, 9), bytes.slice(9, 13), bytes.slice(13)];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) controller.enqueue(piece);
        controller.close();
      },
    });
    const events: string[] = [];
    for await (const data of readSse(body)) events.push(data);
    expect(events).toEqual(["天空是蓝色的", "[DONE]"]);
  });
});
