/** Wire shapes of the deepfort API that the console reads (see deepfort/api/protocol.py). */

export interface ErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export interface Route {
  tier: "local" | "edge" | "center";
  model: string;
  reason: string;
  score: number | null;
  target: string | null;
  degraded: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  completion_tokens_details?: { reasoning_tokens: number } | null;
}

export interface ChatDelta {
  role?: "assistant" | null;
  content?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
}

export interface ChatChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: { index: number; delta: ChatDelta; finish_reason: string | null }[];
  usage?: Usage | null;
  route?: Route | null;
}

export interface ModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  root?: string | null;
  /** A LoRA adapter's base model (then `root` is the adapter file and `details.lora` its entry). */
  parent?: string | null;
  max_model_len?: number | null;
  details?: Record<string, unknown> | null;
  /** What the model samples with where a request leaves a field out (temperature, top_p, max_tokens, ...). */
  sampling_defaults?: Record<string, number> | null;
  /** The embedded SmolLM2-135M demonstration model: English only, for trying the plumbing. */
  demo?: boolean;
}

/** The answer of POST and DELETE /admin/models/{id}/adapters. */
export interface AdapterChange {
  id: string;
  object: "model";
  parent: string;
  root: string;
  lora: { name: string; path: string; scale: number };
  /** Kept in (or removed from) the adapter registry that the next start reads. */
  registered: boolean;
  deleted?: boolean;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ConversationSummary {
  id: string;
  owner: string;
  title: string;
  model: string | null;
  created_at: string;
  updated_at: string;
  message_count: number;
}

export interface StoredMessage {
  id: string;
  conversation_id: string;
  seq: number;
  role: string;
  content: string;
  reasoning: string | null;
  request_id: string | null;
  model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  created_at: string;
}

export interface Conversation {
  id: string;
  owner: string;
  title: string;
  model: string | null;
  created_at: string;
  updated_at: string;
  messages: StoredMessage[];
}

export interface ApiKey {
  id: string;
  name: string;
  role: "user" | "admin";
  rate: string | null;
  tokens: string | null;
  models: string[] | null;
  pii_policy: string | null;
  created_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  state: string;
}

export interface CreatedKey extends ApiKey {
  key: string;
}

export interface EngineStats {
  model: string;
  slots: number;
  running: number;
  waiting: number;
  queue_size: number;
  finished_total: number;
  generated_tokens_total: number;
  kv_cells_total: number;
  kv_cells_used: number;
  [counter: string]: number | string;
}

export interface CenterStatus {
  target?: string;
  healthy?: boolean;
  breaker?: string;
  outstanding?: number;
  models?: string[];
  last_error?: string | null;
  [field: string]: unknown;
}

export interface Stats {
  models: Record<string, EngineStats>;
  centers?: CenterStatus[];
}
