import { useEffect, useState } from "react";

/** `performance.now()`, refreshed every `ms` while `active` (a live timer). */
export function useNow(active: boolean, ms = 100): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => setNow(performance.now()), ms);
    return () => window.clearInterval(timer);
  }, [active, ms]);
  return active ? Math.max(now, performance.now()) : now;
}
