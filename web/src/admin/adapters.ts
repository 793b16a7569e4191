/** LoRA adapters as `/v1/models` shows them (a card of their own, `parent` the base model) and the body
 * of `POST /admin/models/{id}/adapters`. */
import type { ModelCard } from "../api/types";

export interface Adapter {
  /** The model id a request uses: `base:name`. */
  id: string;
  name: string;
  path: string;
  scale: number;
}

export interface AdapterDraft {
  name: string;
  path: string;
  /** As typed; empty: the server's default (1). */
  scale: string;
  keep: boolean;
}

export const EMPTY_ADAPTER: AdapterDraft = { name: "", path: "", scale: "", keep: true };

/** Whether a card is a LoRA adapter of another model (vLLM's `parent`). */
export function isAdapter(card: ModelCard): boolean {
  return typeof card.parent === "string" && card.parent !== "";
}

/** Whether a model can take adapters: a local model whose engine lists its adapters (`details.lora`). */
export function takesAdapters(card: ModelCard): boolean {
  return card.owned_by === "deepfort" && !isAdapter(card) && Array.isArray(card.details?.lora);
}

function adapterOf(card: ModelCard, parent: string): Adapter {
  const lora = card.details?.lora as { name?: unknown; path?: unknown; scale?: unknown } | undefined;
  const prefix = `${parent}:`;
  return {
    id: card.id,
    name: typeof lora?.name === "string" ? lora.name : card.id.startsWith(prefix) ? card.id.slice(prefix.length) : card.id,
    path: typeof lora?.path === "string" ? lora.path : (card.root ?? ""),
    scale: typeof lora?.scale === "number" ? lora.scale : 1,
  };
}

/** The adapters of each base model (by its id), in the server's order. */
export function adaptersByModel(cards: ModelCard[]): Map<string, Adapter[]> {
  const byModel = new Map<string, Adapter[]>();
  for (const card of cards) {
    if (!isAdapter(card)) continue;
    const parent = card.parent!;
    const list = byModel.get(parent) ?? [];
    list.push(adapterOf(card, parent));
    byModel.set(parent, list);
  }
  return byModel;
}

/** The body of POST /admin/models/{id}/adapters for a filled form (an empty scale: the server's default). */
export function adapterBody(draft: AdapterDraft): Record<string, unknown> {
  const body: Record<string, unknown> = { name: draft.name.trim(), path: draft.path.trim(), keep: draft.keep };
  const scale = draft.scale.trim();
  // The server says what is wrong with a scale it refuses; a text that is no number goes as typed.
  if (scale !== "") body.scale = Number.isFinite(Number(scale)) ? Number(scale) : scale;
  return body;
}
