/** Calls to the deepfort API with the session's key; failures become `ApiError`s with the server's words. */
import { readSse } from "./sse";
import type { ErrorBody } from "./types";

const STREAM_ERROR_STATUS: Record<string, number> = {
  service_unavailable: 503,
  upstream_error: 502,
  rate_limit_exceeded: 429,
  invalid_request_error: 400,
};

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  readonly param: string | null;
  /** Seconds, from `Retry-After` (429, 503). */
  readonly retryAfter: number | null;

  constructor(status: number, body: ErrorBody, retryAfter: number | null = null) {
    super(body.message);
    this.name = "ApiError";
    this.status = status;
    this.type = body.type;
    this.code = body.code;
    this.param = body.param;
    this.retryAfter = retryAfter;
  }

  /** An error event inside a stream: the status line was already 200, so the type tells the status. */
  static inStream(body: ErrorBody): ApiError {
    const status = STREAM_ERROR_STATUS[body.type] ?? 500;
    return new ApiError(status, body);
  }
}

/** The request was aborted by the user (stop button): not an error to show. */
export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

async function errorOf(response: Response): Promise<ApiError> {
  const header = response.headers.get("retry-after");
  const retryAfter = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  let body: ErrorBody = { message: response.statusText || `HTTP ${response.status}`, type: "error", param: null, code: null };
  try {
    const parsed = (await response.json()) as { error?: ErrorBody };
    if (parsed && typeof parsed.error === "object" && parsed.error) body = parsed.error;
  } catch {
    // not JSON (a proxy's page): keep the status text
  }
  return new ApiError(response.status, body, retryAfter);
}

export interface StreamResponse {
  headers: Headers;
  events: AsyncGenerator<string>;
}

export class Api {
  constructor(
    readonly key: string | null,
    private readonly base = "",
  ) {}

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (json) headers["Content-Type"] = "application/json";
    if (this.key) headers.Authorization = `Bearer ${this.key}`;
    return headers;
  }

  async send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, { message: String(error), type: "network_error", param: null, code: "network" });
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(method, path, body, signal);
    return (await response.json()) as T;
  }

  async text(path: string, signal?: AbortSignal): Promise<string> {
    const response = await this.send("GET", path, undefined, signal);
    return response.text();
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.json<T>("GET", path, undefined, signal);
  }

  /** POST that answers with server-sent events; aborting `signal` closes the stream (and the generation). */
  async stream(path: string, body: unknown, signal: AbortSignal): Promise<StreamResponse> {
    const response = await this.send("POST", path, body, signal);
    if (!response.body) throw new ApiError(0, { message: "empty response", type: "network_error", param: null, code: "network" });
    return { headers: response.headers, events: readSse(response.body) };
  }
}
