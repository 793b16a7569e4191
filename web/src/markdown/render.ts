/**
 * Markdown to HTML for answers: markdown-it with raw HTML off (model output is never trusted as HTML),
 * highlight.js for code, KaTeX for maths. Everything that reaches the page is escaped by one of the three.
 */
import hljs from "highlight.js/lib/common";
import MarkdownIt from "markdown-it";
import { mathPlugin } from "./math";

export interface RenderEnv {
  /** Label of the copy button on code blocks (the UI language's). */
  copyLabel: string;
}

const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false });
md.use(mathPlugin);

function highlight(code: string, lang: string): string {
  if (lang && hljs.getLanguage(lang)) {
    return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  }
  return md.utils.escapeHtml(code);
}

md.renderer.rules.fence = (tokens, idx, _options, env) => {
  const token = tokens[idx]!;
  const lang = token.info.trim().split(/\s+/)[0] ?? "";
  const name = md.utils.escapeHtml(lang);
  const label = md.utils.escapeHtml(String((env as Partial<RenderEnv> | undefined)?.copyLabel ?? "Copy"));
  return (
    `<div class="code-block"><div class="code-head"><span class="code-lang">${name || "text"}</span>` +
    `<button type="button" class="code-copy" data-copy>${label}</button></div>` +
    `<pre><code class="hljs${name ? ` language-${name}` : ""}">${highlight(token.content, lang)}</code></pre></div>\n`
  );
};

const defaultLinkOpen = md.renderer.rules.link_open;
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  const token = tokens[idx]!;
  token.attrSet("target", "_blank");
  token.attrSet("rel", "noopener noreferrer nofollow");
  return defaultLinkOpen ? defaultLinkOpen(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options);
};

export function renderMarkdown(text: string, env: RenderEnv = { copyLabel: "Copy" }): string {
  return md.render(text, { ...env });
}
