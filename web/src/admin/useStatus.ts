/** Polls /stats, /metrics, /ready and /admin/alerts, keeping a minute of scrapes for windowed figures. */
import { useEffect, useRef, useState } from "react";
import type { Api } from "../api/client";
import type { Stats } from "../api/types";
import { buckets, histogramQuantile, observations, parseMetrics, subtract } from "./metrics";

export const POLL_MS = 2000;
const TTFT_WINDOW_MS = 60_000;
const RATE_WINDOW_MS = 10_000;
const TTFT = "deepfort:time_to_first_token_seconds";

export interface Alert {
  name: string;
  state: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  active_since?: string;
  value?: number;
}

interface Scrape {
  at: number;
  ttft: Map<number, number>;
  generated: number;
}

export interface Status {
  stats: Stats;
  ready: boolean;
  alerts: Alert[];
  running: number;
  waiting: number;
  ttft: { p50: number | null; p95: number | null; scope: "window" | "sinceStart" | "none" };
  tokensPerSecond: number | null;
  updatedAt: Date;
}

function oldestWithin(history: Scrape[], now: number, ms: number): Scrape | undefined {
  return history.find((scrape) => now - scrape.at <= ms);
}

/** The figures of the newest scrape against the older ones kept in `history` (oldest first). */
export function summarise(history: Scrape[], stats: Stats): Omit<Status, "stats" | "ready" | "alerts" | "updatedAt"> {
  const newest = history.at(-1)!;
  const models = Object.values(stats.models);
  const running = models.reduce((sum, m) => sum + m.running, 0);
  const waiting = models.reduce((sum, m) => sum + m.waiting, 0);
  const base = oldestWithin(history, newest.at, TTFT_WINDOW_MS);
  const window = base && base !== newest ? subtract(newest.ttft, base.ttft) : new Map<number, number>();
  const scope = observations(window) > 0 ? "window" : observations(newest.ttft) > 0 ? "sinceStart" : "none";
  const source = scope === "window" ? window : newest.ttft;
  const rateBase = oldestWithin(history, newest.at, RATE_WINDOW_MS);
  const tokensPerSecond =
    rateBase && rateBase !== newest ? (newest.generated - rateBase.generated) / ((newest.at - rateBase.at) / 1000) : null;
  return {
    running,
    waiting,
    ttft: { p50: scope === "none" ? null : histogramQuantile(0.5, source), p95: scope === "none" ? null : histogramQuantile(0.95, source), scope },
    tokensPerSecond: tokensPerSecond === null ? null : Math.max(0, tokensPerSecond),
  };
}

export function useStatus(api: Api, paused: boolean): { status: Status | null; error: unknown } {
  const [status, setStatus] = useState<Status | null>(null);
  const [error, setError] = useState<unknown>(null);
  const history = useRef<Scrape[]>([]);

  useEffect(() => {
    if (paused) return;
    let stopped = false;
    let timer = 0;
    const controller = new AbortController();
    const poll = async () => {
      try {
        const [stats, metrics, alerts, ready] = await Promise.all([
          api.get<Stats>("/stats", controller.signal),
          api.text("/metrics", controller.signal),
          api.get<{ alerts: Alert[] }>("/admin/alerts", controller.signal),
          fetch("/ready", { signal: controller.signal }).then((r) => r.ok),
        ]);
        const now = performance.now();
        const generated = Object.values(stats.models).reduce((sum, m) => sum + m.generated_tokens_total, 0);
        const kept = history.current.filter((scrape) => now - scrape.at <= TTFT_WINDOW_MS + POLL_MS);
        kept.push({ at: now, ttft: buckets(parseMetrics(metrics), TTFT), generated });
        history.current = kept;
        setStatus({ stats, ready, alerts: alerts.alerts, updatedAt: new Date(), ...summarise(kept, stats) });
        setError(null);
      } catch (caught) {
        if (!controller.signal.aborted) setError(caught);
      }
      if (!stopped) timer = window.setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [api, paused]);

  return { status, error };
}
