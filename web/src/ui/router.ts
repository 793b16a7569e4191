/** The console's three places, kept in the address bar: `/` (a new chat), `/c/<id>`, `/manage` (admin;
 * `/admin` belongs to the API). */
import { useCallback, useEffect, useState } from "react";

export type Place = { view: "chat"; conversation: string | null } | { view: "admin" };

export function placeOf(pathname: string): Place {
  if (pathname === "/manage" || pathname.startsWith("/manage/")) return { view: "admin" };
  const match = /^\/c\/([^/]+)\/?$/.exec(pathname);
  return { view: "chat", conversation: match ? decodeURIComponent(match[1]!) : null };
}

export function pathOf(place: Place): string {
  if (place.view === "admin") return "/manage";
  return place.conversation ? `/c/${encodeURIComponent(place.conversation)}` : "/";
}

export function usePlace(): [Place, (place: Place, replace?: boolean) => void] {
  const [place, setPlace] = useState<Place>(() => placeOf(window.location.pathname));
  useEffect(() => {
    const onPop = () => setPlace(placeOf(window.location.pathname));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const go = useCallback((next: Place, replace = false) => {
    const path = pathOf(next);
    if (path !== window.location.pathname) {
      if (replace) window.history.replaceState(null, "", path);
      else window.history.pushState(null, "", path);
    }
    setPlace(next);
  }, []);
  return [place, go];
}
