/** Errors in plain words, by status and code, with the server's own message kept for the details. */
import { ApiError } from "../api/client";
import type { Translate } from "../i18n";

export interface Explained {
  title: string;
  detail: string | null;
  /** Seconds to wait before a retry makes sense. */
  retryAfter: number | null;
  /** The key was refused: signing in again is the way out, not a retry. */
  signIn: boolean;
}

export function explain(error: unknown, t: Translate): Explained {
  if (!(error instanceof ApiError)) {
    return { title: t("error.unknown"), detail: String(error), retryAfter: null, signIn: false };
  }
  const detail = error.message || null;
  const plain = (title: string): Explained => ({
    title,
    detail,
    retryAfter: error.retryAfter,
    signIn: error.status === 401,
  });
  switch (error.status) {
    case 0:
      return plain(t("error.network"));
    case 401:
      return plain(t("error.401"));
    case 403:
      return plain(error.code === "model_not_allowed" ? t("error.403model") : t("error.403"));
    case 404:
      return plain(error.code === "model_not_found" ? t("error.404model") : t("error.404"));
    case 413:
      return plain(t("error.413"));
    case 429:
      return plain(
        error.code === "token_quota_exceeded"
          ? t("error.429tokens", { s: error.retryAfter ?? "?" })
          : t("error.429", { s: error.retryAfter ?? "?" }),
      );
    case 503:
      if (error.code === "model_not_ready") return plain(t("error.503loading"));
      if (error.code === "center_unavailable") return plain(t("error.503center"));
      return plain(t("error.503"));
    case 400:
      if (error.code === "context_length_exceeded") return plain(t("error.context"));
      if (error.code === "sensitive_input") return plain(t("error.sensitive"));
      return plain(t("error.400"));
    case 502:
      return plain(t("error.502"));
    default:
      return plain(t("error.server", { status: error.status }));
  }
}
