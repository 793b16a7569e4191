import { useState } from "react";
import { useI18n } from "../i18n";
import type { Phase } from "./answer";

/** Open while the model thinks, closed once the answer starts, unless the reader chose otherwise. */
export function reasoningOpen(phase: Phase, chosen: boolean | null): boolean {
  return chosen ?? (phase === "reasoning" || phase === "waiting");
}

interface Props {
  text: string;
  phase: Phase;
  /** Time spent thinking so far (live while thinking), in milliseconds. */
  ms: number | null;
}

export function ReasoningBlock({ text, phase, ms }: Props) {
  const { t } = useI18n();
  const [chosen, setChosen] = useState<boolean | null>(null);
  const thinking = phase === "reasoning";
  const open = reasoningOpen(phase, chosen);
  const seconds = ms === null ? "0.0" : (ms / 1000).toFixed(1);
  return (
    <details
      className={`reasoning${thinking ? " reasoning-live" : ""}`}
      open={open}
      onToggle={(event) => {
        const now = event.currentTarget.open;
        if (now !== open) setChosen(now);
      }}
    >
      <summary>
        <span className="reasoning-title">
          {thinking ? t("reasoning.thinking", { s: seconds }) : t("reasoning.thought", { s: seconds })}
        </span>
      </summary>
      <div className="reasoning-text">{text}</div>
    </details>
  );
}
