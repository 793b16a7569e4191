import { useI18n } from "../i18n";
import { ADD_MODEL_COMMAND, aroundCommand } from "./demo";

/** Says plainly that the embedded demonstration model answers, and how to add a real one. */
export function DemoNotice({ model }: { model: string }) {
  const { t } = useI18n();
  const [before, after] = aroundCommand(t("chat.demoAdd"));
  return (
    <div className="notice notice-warn demo-notice" role="note">
      <p className="notice-title">{t("chat.demoTitle", { model })}</p>
      <p className="notice-detail">{t("chat.demoDetail")}</p>
      <p className="notice-detail">
        {before}
        <code>{ADD_MODEL_COMMAND}</code>
        {after}
      </p>
    </div>
  );
}
