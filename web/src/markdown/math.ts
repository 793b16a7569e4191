/**
 * A markdown-it plugin for TeX maths rendered with KaTeX: `$...$` and `\(...\)` inline, `$$...$$` and
 * `\[...\]` as blocks (DeepSeek-R1 models write both styles). Dollar signs follow pandoc's rule so that
 * prices ("$5 and $6") stay text: no space after the opening `$`, none before the closing one, and no
 * digit right after it. A formula still open at the end of the text (mid-stream) stays text until closed.
 */
import katex from "katex";
import type { MarkdownIt, StateBlock, StateInline } from "markdown-it";

const BLOCK_OPENERS: [string, string][] = [
  ["$$", "$$"],
  ["\\[", "\\]"],
];

export function renderTex(tex: string, displayMode: boolean): string {
  return katex.renderToString(tex, { displayMode, throwOnError: false, strict: "ignore", output: "htmlAndMathml" });
}

function closingDollar(src: string, from: number): number {
  for (let at = src.indexOf("$", from); at !== -1; at = src.indexOf("$", at + 1)) {
    const before = src[at - 1] ?? "";
    if (before === "\\" || /\s/.test(before)) continue;
    return /\d/.test(src[at + 1] ?? "") ? -1 : at;
  }
  return -1;
}

function mathInline(state: StateInline, silent: boolean): boolean {
  const { src, pos } = state;
  let open: string;
  let close: string;
  let display = false;
  if (src.startsWith("\\(", pos)) [open, close] = ["\\(", "\\)"];
  else if (src.startsWith("\\[", pos)) [open, close, display] = ["\\[", "\\]", true];
  else if (src.startsWith("$$", pos)) [open, close, display] = ["$$", "$$", true];
  else if (src[pos] === "$") [open, close] = ["$", "$"];
  else return false;
  const start = pos + open.length;
  let end: number;
  if (open === "$") {
    if (start >= src.length || /\s/.test(src[start] ?? "")) return false;
    end = closingDollar(src, start);
  } else {
    end = src.indexOf(close, start);
  }
  if (end === -1 || end === start) return false;
  if (!silent) {
    const token = state.push(display ? "math_inline_display" : "math_inline", "math", 0);
    token.content = src.slice(start, end);
    token.markup = open;
  }
  state.pos = end + close.length;
  return true;
}

function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  if (state.sCount[startLine]! - state.blkIndent >= 4) return false;
  const first = state.src.slice(state.bMarks[startLine]! + state.tShift[startLine]!, state.eMarks[startLine]);
  const pair = BLOCK_OPENERS.find(([open]) => first.startsWith(open));
  if (!pair) return false;
  const [open, close] = pair;
  const lines: string[] = [];
  let line = startLine;
  let rest = first.slice(open.length);
  for (;;) {
    const at = rest.indexOf(close);
    if (at !== -1) {
      if (rest.slice(at + close.length).trim() !== "") return false;
      lines.push(rest.slice(0, at));
      break;
    }
    lines.push(rest);
    line += 1;
    if (line >= endLine) return false;
    rest = state.src.slice(state.bMarks[line]! + state.tShift[line]!, state.eMarks[line]);
  }
  if (silent) return true;
  const token = state.push("math_block", "math", 0);
  token.block = true;
  token.content = lines.join("\n").trim();
  token.markup = open;
  token.map = [startLine, line + 1];
  state.line = line + 1;
  return true;
}

export function mathPlugin(md: MarkdownIt): void {
  // Before `escape`, which would otherwise turn "\(" into "(".
  md.inline.ruler.before("escape", "math_inline", mathInline);
  md.block.ruler.before("fence", "math_block", mathBlock, { alt: ["paragraph", "reference", "blockquote", "list"] });
  md.renderer.rules.math_inline = (tokens, idx) => renderTex(tokens[idx]!.content, false);
  md.renderer.rules.math_inline_display = (tokens, idx) => renderTex(tokens[idx]!.content, true);
  md.renderer.rules.math_block = (tokens, idx) => `<div class="math-block">${renderTex(tokens[idx]!.content, true)}</div>\n`;
}
