import { LANGS, useI18n, type Lang } from "../i18n";

export function LanguageSelect() {
  const { lang, setLang, t } = useI18n();
  return (
    <label className="inline-field language">
      <span className="visually-hidden">{t("app.language")}</span>
      <select value={lang} onChange={(event) => setLang(event.target.value as Lang)} aria-label={t("app.language")}>
        {LANGS.map((option) => (
          <option key={option.id} value={option.id} lang={option.id}>
            {option.name}
          </option>
        ))}
      </select>
    </label>
  );
}
