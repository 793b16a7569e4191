import { describe, expect, it } from "vitest";
import { renderMarkdown } from "./render";

describe("renderMarkdown", () => {
  it("never passes raw HTML through", () => {
    const html = renderMarkdown('<img src=x onerror="alert(1)"> <script>alert(2)</script>');
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<script");
    expect(html).toContain("&lt;img");
  });

  it("refuses javascript: links", () => {
    expect(renderMarkdown("[x](javascript:alert(1))")).not.toContain('href="javascript');
  });

  it("opens links in a new tab without an opener", () => {
    expect(renderMarkdown("[deepfort](https://example.com)")).toContain('rel="noopener noreferrer nofollow"');
  });

  it("highlights fenced code and labels its copy button", () => {
    const html = renderMarkdown("```python\ndef f(x):\n    return '<b>'\n```", { copyLabel: "复制" });
    expect(html).toContain('class="hljs language-python"');
    expect(html).toContain("hljs-keyword");
    expect(html).toContain("&lt;b&gt;");
    expect(html).toContain(">复制</button>");
  });

  it("renders inline and display maths in both notations", () => {
    for (const source of ["$x^2$", "\\(x^2\\)"]) {
      const html = renderMarkdown(source);
      expect(html).toContain('class="katex"');
      expect(html).not.toContain("katex-display");
    }
    for (const source of ["$$\n\\int_0^1 x\\,dx\n$$", "\\[\n\\frac{a}{b}\n\\]", "$$x$$"]) {
      expect(renderMarkdown(source)).toContain("katex-display");
    }
  });

  it("leaves prices and unclosed formulas as text", () => {
    expect(renderMarkdown("It costs $5 and $6.")).not.toContain("katex");
    expect(renderMarkdown("Streaming: $$\\frac{1}{")).not.toContain("katex");
  });

  it("shows a TeX error in place instead of failing", () => {
    expect(renderMarkdown("$\\frac{1}$")).toContain("katex-error");
  });
});
