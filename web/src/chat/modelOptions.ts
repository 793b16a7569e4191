/** The chat's model picker: each LoRA adapter (a card with a `parent`) right after its base model's names. */
import type { ModelCard } from "../api/types";

export interface ModelOption {
  id: string;
  /** The base model when this id asks for one of its LoRA adapters (`base:name`). */
  adapterOf: string | null;
}

export function modelOptions(models: ModelCard[]): ModelOption[] {
  const groups = new Map<string, ModelOption[]>();
  const adapters: ModelCard[] = [];
  for (const card of models) {
    if (card.parent) {
      adapters.push(card);
      continue;
    }
    // A local model's aliases share its `root`; a center's `root` is its upstream name, no group.
    const base = card.owned_by === "deepfort" && card.root ? card.root : card.id;
    groups.set(base, [...(groups.get(base) ?? []), { id: card.id, adapterOf: null }]);
  }
  const orphans: ModelOption[] = [];
  for (const card of adapters) {
    const option = { id: card.id, adapterOf: card.parent! };
    const group = groups.get(card.parent!);
    if (group) group.push(option);
    else orphans.push(option);
  }
  return [...[...groups.values()].flat(), ...orphans];
}
