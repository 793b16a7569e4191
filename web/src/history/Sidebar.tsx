import { useEffect, useState } from "react";
import type { Api } from "../api/client";
import type { ConversationSummary } from "../api/types";
import { useI18n } from "../i18n";
import { ErrorNotice } from "../ui/ErrorNotice";
import { Icon } from "../ui/Icon";

interface Props {
  api: Api;
  active: string | null;
  /** Changes whenever a conversation was created or updated elsewhere: the list reloads. */
  version: number;
  onOpen: (id: string) => void;
  onNew: () => void;
  onDeleted: (id: string) => void;
}

function when(iso: string, lang: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString(lang, { dateStyle: "short", timeStyle: "short" });
}

export function Sidebar({ api, active, version, onOpen, onNew, onDeleted }: Props) {
  const { t, lang } = useI18n();
  const [query, setQuery] = useState("");
  const [items, setItems] = useState<ConversationSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reload, setReload] = useState(0);
  const [renaming, setRenaming] = useState<{ id: string; title: string } | null>(null);
  const [deleting, setDeleting] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      const params = new URLSearchParams({ limit: "100" });
      if (query.trim()) params.set("q", query.trim());
      api
        .get<{ data: ConversationSummary[] }>(`/v1/conversations?${params}`, controller.signal)
        .then((list) => {
          setItems(list.data);
          setError(null);
        })
        .catch((caught: unknown) => {
          if (!controller.signal.aborted) setError(caught);
        });
    }, query ? 250 : 0);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [api, query, version, reload]);

  const rename = async (id: string, title: string) => {
    if (!title.trim()) return;
    try {
      await api.json("PATCH", `/v1/conversations/${encodeURIComponent(id)}`, { title: title.trim() });
      setRenaming(null);
      setReload((n) => n + 1);
    } catch (caught) {
      setError(caught);
    }
  };
  const remove = async (id: string) => {
    try {
      await api.json("DELETE", `/v1/conversations/${encodeURIComponent(id)}`);
      setDeleting(null);
      setReload((n) => n + 1);
      onDeleted(id);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <nav className="sidebar-inner" aria-label={t("history.title")}>
      <button type="button" className="button-primary new-chat" onClick={onNew}>
        + {t("history.new")}
      </button>
      <div className="search">
        <label htmlFor="history-search" className="visually-hidden">
          {t("history.search")}
        </label>
        <input id="history-search" type="search" placeholder={t("history.search")} value={query} onChange={(event) => setQuery(event.target.value)} />
      </div>
      <h2 className="sidebar-heading">{t("history.title")}</h2>
      {error !== null && <ErrorNotice error={error} onRetry={() => setReload((n) => n + 1)} />}
      {items !== null && items.length === 0 && <p className="muted">{query ? t("history.noMatch") : t("history.empty")}</p>}
      <ul className="history">
        {items?.map((item) => (
          <li key={item.id} className={item.id === active ? "active" : undefined}>
            {renaming?.id === item.id ? (
              <form
                className="history-rename"
                onSubmit={(event) => {
                  event.preventDefault();
                  void rename(item.id, renaming.title);
                }}
              >
                <label htmlFor={`rename-${item.id}`} className="visually-hidden">
                  {t("history.newTitle")}
                </label>
                <input
                  id={`rename-${item.id}`}
                  value={renaming.title}
                  maxLength={500}
                  autoFocus
                  onChange={(event) => setRenaming({ id: item.id, title: event.target.value })}
                  onKeyDown={(event) => {
                    if (event.key === "Escape") setRenaming(null);
                  }}
                />
                <button type="submit">{t("action.save")}</button>
                <button type="button" onClick={() => setRenaming(null)}>
                  {t("action.cancel")}
                </button>
              </form>
            ) : deleting === item.id ? (
              <div className="history-confirm" role="group" aria-label={t("history.confirmDelete", { title: item.title })}>
                <span>{t("history.confirmDelete", { title: item.title })}</span>
                <button type="button" className="button-danger" onClick={() => void remove(item.id)}>
                  {t("action.delete")}
                </button>
                <button type="button" onClick={() => setDeleting(null)} autoFocus>
                  {t("action.cancel")}
                </button>
              </div>
            ) : (
              <>
                <a
                  href={`/c/${encodeURIComponent(item.id)}`}
                  className="history-link"
                  aria-current={item.id === active ? "page" : undefined}
                  onClick={(event) => {
                    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
                    event.preventDefault();
                    onOpen(item.id);
                  }}
                >
                  <span className="history-title">{item.title}</span>
                  <span className="history-when">{when(item.updated_at, lang)}</span>
                </a>
                <span className="history-actions">
                  <button type="button" className="icon-button" aria-label={t("history.rename", { title: item.title })} title={t("history.renameShort")} onClick={() => setRenaming({ id: item.id, title: item.title })}>
                    <Icon name="edit" />
                  </button>
                  <button type="button" className="icon-button" aria-label={t("history.delete", { title: item.title })} title={t("action.delete")} onClick={() => setDeleting(item.id)}>
                    <Icon name="trash" />
                  </button>
                </span>
              </>
            )}
          </li>
        ))}
      </ul>
    </nav>
  );
}
