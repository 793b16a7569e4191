/** The API key lives in this tab's sessionStorage only: closing the tab forgets it. */
const KEY = "deepfort.apiKey";

export function loadKey(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY, key);
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage off: the key lasts as long as the page
  }
}
