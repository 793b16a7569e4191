import { useCallback, useEffect, useMemo, useState } from "react";
import { AdminPage } from "./admin/AdminPage";
import { Api, ApiError } from "./api/client";
import type { ModelCard } from "./api/types";
import { ChatPage } from "./chat/ChatPage";
import type { ChatOptions } from "./chat/useChat";
import { Sidebar } from "./history/Sidebar";
import { useI18n } from "./i18n";
import { ErrorNotice } from "./ui/ErrorNotice";
import { LanguageSelect } from "./ui/LanguageSelect";
import { Login } from "./ui/Login";
import { usePlace } from "./ui/router";
import { loadKey, saveKey } from "./ui/session";
import { Icon } from "./ui/Icon";

type Boot =
  | { state: "checking" }
  | { state: "login"; reason: string | null }
  | { state: "failed"; error: unknown }
  | { state: "ready"; models: ModelCard[]; admin: boolean };

const MODEL_KEY = "deepfort.model";

function pickModel(models: ModelCard[]): string {
  let saved: string | null = null;
  try {
    saved = localStorage.getItem(MODEL_KEY);
  } catch {
    saved = null;
  }
  if (saved && models.some((m) => m.id === saved)) return saved;
  return models.find((m) => m.id === "auto")?.id ?? models[0]?.id ?? "";
}

/** Whether the key may use the admin API: 200 from GET /admin/keys, 403 otherwise. */
async function isAdmin(api: Api): Promise<boolean> {
  try {
    await api.get("/admin/keys");
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return false;
    throw error;
  }
}

export function App() {
  const { t } = useI18n();
  const [key, setKey] = useState<string | null>(loadKey);
  const [boot, setBoot] = useState<Boot>({ state: "checking" });
  const [place, go] = usePlace();
  const [options, setOptions] = useState<ChatOptions>({ model: "", temperature: null, maxTokens: null, thinkingBudget: null });
  const [version, setVersion] = useState(0);
  const [fresh, setFresh] = useState(0);
  const [menuOpen, setMenuOpen] = useState(false);
  const api = useMemo(() => new Api(key), [key]);

  const start = useCallback(async () => {
    setBoot({ state: "checking" });
    try {
      const models = await api.get<{ data: ModelCard[] }>("/v1/models");
      const admin = await isAdmin(api);
      setOptions((current) => ({ ...current, model: pickModel(models.data) }));
      setBoot({ state: "ready", models: models.data, admin });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        saveKey(null);
        setBoot({ state: "login", reason: key ? t("login.refused") : null });
      } else {
        setBoot({ state: "failed", error });
      }
    }
    // t only words the reason; a language switch must not sign anyone out
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, key]);

  useEffect(() => {
    void start();
  }, [start]);

  // The administrator added or removed a model or an adapter: the chat's picker offers what is served now.
  const refreshModels = useCallback(async () => {
    try {
      const models = await api.get<{ data: ModelCard[] }>("/v1/models");
      setBoot((current) => (current.state === "ready" ? { ...current, models: models.data } : current));
      setOptions((current) => (models.data.some((m) => m.id === current.model) ? current : { ...current, model: pickModel(models.data) }));
    } catch {
      // the next start reads the list; the admin page shows its own errors
    }
  }, [api]);

  const signIn = (value: string) => {
    saveKey(value);
    setKey(value);
  };
  const signOut = () => {
    saveKey(null);
    setKey(null);
    setBoot({ state: "login", reason: null });
  };
  const chooseOptions = (next: ChatOptions) => {
    setOptions(next);
    try {
      localStorage.setItem(MODEL_KEY, next.model);
    } catch {
      // storage off
    }
  };
  const onConversation = useCallback(
    (id: string, created: boolean) => {
      if (created) go({ view: "chat", conversation: id }, true);
      setVersion((n) => n + 1);
    },
    [go],
  );
  const newChat = () => {
    setFresh((n) => n + 1);
    setMenuOpen(false);
    go({ view: "chat", conversation: null });
  };

  if (boot.state === "checking") {
    return (
      <main className="center-screen" id="main" aria-busy="true">
        <p className="muted">{t("app.connecting")}</p>
      </main>
    );
  }
  if (boot.state === "login") return <Login reason={boot.reason} onKey={signIn} />;
  if (boot.state === "failed") {
    return (
      <main className="center-screen" id="main">
        <ErrorNotice error={boot.error} onRetry={() => void start()} onSignIn={signOut} />
      </main>
    );
  }

  const inAdmin = place.view === "admin" && boot.admin;
  const conversation = place.view === "chat" ? place.conversation : null;
  return (
    <div className="app">
      <a className="skip-link" href={inAdmin ? "#main" : "#composer-input"}>
        {inAdmin ? t("app.skipMain") : t("app.skipComposer")}
      </a>
      <header className="topbar">
        {!inAdmin && (
          <button type="button" className="icon-button menu-button" aria-expanded={menuOpen} aria-controls="sidebar" aria-label={t("app.menu")} onClick={() => setMenuOpen((open) => !open)}>
            <Icon name="menu" />
          </button>
        )}
        <a
          className="brand"
          href="/"
          onClick={(event) => {
            event.preventDefault();
            go({ view: "chat", conversation });
          }}
        >
          deepfort
        </a>
        <nav className="topnav" aria-label={t("app.nav")}>
          <a
            href="/"
            aria-current={!inAdmin ? "page" : undefined}
            onClick={(event) => {
              event.preventDefault();
              go({ view: "chat", conversation: null });
            }}
          >
            {t("app.chat")}
          </a>
          {boot.admin && (
            <a
              href="/manage"
              aria-current={inAdmin ? "page" : undefined}
              onClick={(event) => {
                event.preventDefault();
                go({ view: "admin" });
              }}
            >
              {t("app.admin")}
            </a>
          )}
        </nav>
        <div className="topbar-end">
          {key === null && <span className="badge" title={t("app.authOffHint")}>{t("app.authOff")}</span>}
          <LanguageSelect />
          {key !== null && (
            <button type="button" onClick={signOut}>
              {t("app.signOut")}
            </button>
          )}
        </div>
      </header>
      {inAdmin ? (
        <main id="main" className="admin-main">
          <AdminPage api={api} models={boot.models} onSignIn={signOut} onModelsChanged={() => void refreshModels()} />
        </main>
      ) : (
        <div className="workspace">
          <aside id="sidebar" className={`sidebar${menuOpen ? " open" : ""}`}>
            <Sidebar
              api={api}
              active={conversation}
              version={version}
              onOpen={(id) => {
                setMenuOpen(false);
                go({ view: "chat", conversation: id });
              }}
              onNew={newChat}
              onDeleted={(id) => {
                if (id === conversation) newChat();
              }}
            />
          </aside>
          {menuOpen && <div className="scrim" onClick={() => setMenuOpen(false)} aria-hidden="true" />}
          <main id="main" className="chat-main">
            <ChatPage api={api} models={boot.models} conversation={conversation} fresh={fresh} options={options} onOptions={chooseOptions} onConversation={onConversation} onSignIn={signOut} />
          </main>
        </div>
      )}
    </div>
  );
}
