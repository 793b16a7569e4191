/** A recorded-shape stream of deepfort's /v1/chat/completions (reasoning model, usage included). */
const route = { tier: "local", model: "smol-r1", reason: "requested", score: null, target: null, degraded: false };

function chunk(delta: Record<string, string>, extra: Record<string, unknown> = {}, finish: string | null = null): string {
  const body = {
    id: "chatcmpl-abc123",
    object: "chat.completion.chunk",
    created: 1764460800,
    model: "smol-r1",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    usage: null,
    ...extra,
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

export const REASONING = "Rayleigh scattering: shorter wavelengths scatter more. 蓝光散射更强。";
export const CONTENT = "The sky is blue because **blue light** scatters most: $I \\propto 1/\\lambda^4$. 天空是蓝色的。";

export function r1Stream(): string {
  const parts = [chunk({ role: "assistant", content: "" }, { route })];
  for (const word of REASONING.split(/(?<= )/)) parts.push(chunk({ reasoning_content: word, reasoning: word }));
  for (const word of CONTENT.split(/(?<= )/)) parts.push(chunk({ content: word }));
  parts.push(chunk({}, {}, "stop"));
  const usage = { prompt_tokens: 12, completion_tokens: 40, total_tokens: 52, completion_tokens_details: { reasoning_tokens: 15 } };
  parts.push(`data: ${JSON.stringify({ id: "chatcmpl-abc123", object: "chat.completion.chunk", created: 1764460800, model: "smol-r1", choices: [], usage })}\n\n`);
  parts.push("data: [DONE]\n\n");
  return parts.join("");
}
