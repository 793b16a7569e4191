/**
 * Server-sent events, parsed incrementally: text may arrive split anywhere (inside a line, between "\r"
 * and "\n", inside a multi-byte character when fed through `readSse`), and the events that come out are
 * the same as if it had arrived whole. Only `data` fields matter to an OpenAI-style stream.
 */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private skipLineFeed = false;

  /** Feed more text; returns the data of every event it completed. */
  push(text: string): string[] {
    if (this.skipLineFeed && text.startsWith("\n")) text = text.slice(1);
    this.skipLineFeed = false;
    this.buffer += text;
    const events: string[] = [];
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf("\r", start);
      const lf = this.buffer.indexOf("\n", start);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break;
      let next = end + 1;
      if (this.buffer[end] === "\r") {
        if (next < this.buffer.length) {
          if (this.buffer[next] === "\n") next += 1;
        } else {
          // "\r" at the very end: a "\n" in the next piece belongs to this line ending.
          this.skipLineFeed = true;
        }
      }
      this.line(this.buffer.slice(start, end), events);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** The stream ended: an event not closed by a blank line still counts (servers omit the last one). */
  end(): string[] {
    const events: string[] = [];
    if (this.buffer) this.line(this.buffer, events);
    this.buffer = "";
    this.line("", events);
    return events;
  }

  private line(line: string, events: string[]): void {
    if (line === "") {
      if (this.data.length) events.push(this.data.join("\n"));
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
  }
}

/** The data of each event of a response body, decoded as UTF-8 across chunk boundaries. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    finished = true;
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    // A reader left early closes the connection, which cancels the generation on the server.
    if (finished) reader.releaseLock();
    else void reader.cancel().catch(() => undefined);
  }
}
