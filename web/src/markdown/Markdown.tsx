import { useMemo, type MouseEvent } from "react";
import { useI18n } from "../i18n";
import { copyText } from "../ui/clipboard";
import { renderMarkdown } from "./render";

export function Markdown({ text }: { text: string }) {
  const { t } = useI18n();
  const copyLabel = t("action.copy");
  const html = useMemo(() => renderMarkdown(text, { copyLabel }), [text, copyLabel]);
  const onClick = (event: MouseEvent<HTMLDivElement>) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>("button[data-copy]");
    const code = button?.closest(".code-block")?.querySelector("code");
    if (!button || !code) return;
    void copyText(code.textContent ?? "").then((ok) => {
      button.textContent = ok ? t("action.copied") : copyLabel;
      window.setTimeout(() => (button.textContent = copyLabel), 1500);
    });
  };
  // Safe: markdown-it runs with raw HTML off; code and maths come escaped from highlight.js and KaTeX.
  return <div className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
}
