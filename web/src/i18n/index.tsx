/** The console's two languages. zh-CN is the default when the browser prefers any Chinese. */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { en, type Messages } from "./en";
import { zhCN } from "./zh-CN";

export type Lang = "zh-CN" | "en";
export type MessageKey = keyof Messages;
export const LANGS: { id: Lang; name: string }[] = [
  { id: "zh-CN", name: "中文" },
  { id: "en", name: "English" },
];
const DICTIONARIES: Record<Lang, Messages> = { "zh-CN": zhCN, en };
const STORAGE_KEY = "deepfort.lang";

export function preferredLang(languages: readonly string[], saved: string | null): Lang {
  if (saved === "zh-CN" || saved === "en") return saved;
  for (const language of languages) {
    const lower = language.toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const dictionary = DICTIONARIES[lang];
  return (key, vars) => {
    const text = dictionary[key] ?? en[key];
    return vars ? text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole)) : text;
  };
}

interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: Translate;
}

const I18nContext = createContext<I18n>({ lang: "en", setLang: () => undefined, t: translator("en") });

function savedLang(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(() => preferredLang(navigator.languages ?? [navigator.language], savedLang()));
  const setLang = useCallback((next: Lang) => {
    setLangState(next);
    try {
      localStorage.setItem(STORAGE_KEY, next);
    } catch {
      // storage off: the choice lasts for this page
    }
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const value = useMemo(() => ({ lang, setLang, t: translator(lang) }), [lang, setLang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}
