"""The Engine protocol: one streaming generate method, plus tokenizer access, capabilities and stats.

An engine receives a fully prepared :class:`EngineRequest` (prompt text or token ids, sampling, limits)
and yields :class:`EngineDelta` values. The first delta is an *acceptance* (no text, ``prompt_tokens``
set): it arrives as soon as the request is validated and queued, so callers can surface errors (context
too long, queue full) before they commit to an HTTP status, and start streaming while the request waits.
Closing the iterator early cancels the request, queued or running.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from deepfort.config import LoraAdapter

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(slots=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    """None: the engine's default (llama.cpp's engine: :data:`~deepfort.engines.llamacpp.sampler.TOP_K`);
    0: off."""
    min_p: float = 0.0
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    penalty_last_n: int = 64


@dataclass(slots=True)
class ThinkingBudget:
    """The model reasons between ``start_tag`` and ``end_tag``. ``started`` is true when the prompt already
    opened the block. With ``max_tokens`` set, reasoning ends after that many tokens by forcing ``end_tag``
    into the output (vLLM's thinking_token_budget). A JSON constraint (``structured``) applies from the end
    of reasoning on, so the answer parses while the reasoning stays free text."""

    max_tokens: int | None = None
    start_tag: str = "<think>"
    end_tag: str = "</think>"
    started: bool = False


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """Constrain the output to JSON: any JSON object (``schema is None``) or one matching ``schema``."""

    schema: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class AdapterChoice:
    """A LoRA adapter a request runs with, by name, at its configured scale or at ``scale``."""

    name: str
    scale: float | None = None


@dataclass(slots=True)
class EngineRequest:
    request_id: str
    prompt: str | list[int]
    max_tokens: int | None = None
    """None: up to the context's end; 0: compute the prompt only (its ``prompt_logprobs``), generate
    nothing and finish with ``"length"``."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: Sequence[str] = ()
    structured: StructuredOutput | None = None
    logprobs: int | None = None
    """None: no logprobs; 0: the chosen token's only; k: plus the k most likely."""
    prompt_logprobs: int | None = None
    """None: none; k: each prompt token's log-probability given the tokens before it, plus the k most
    likely alternatives (vLLM's ``prompt_logprobs``; the first token has none). Computed afresh: the
    prompt does not reuse a cached prefix. Only for engines with ``capabilities.prompt_logprobs``."""
    thinking: ThinkingBudget | None = None
    add_special: bool = True
    """Add BOS when tokenizing a text prompt (chat templates usually carry their own)."""
    cache_prompt: bool = True
    """Reuse cached KV cells of a shared prompt prefix (llama-server's name for the switch)."""
    ignore_eos: bool = False
    """Generate until ``max_tokens`` even past end-of-sequence tokens (vLLM's and llama-server's name)."""
    lora: tuple[AdapterChoice, ...] = ()
    """LoRA adapters of the model to apply (vLLM's per-request LoRA); only for engines with
    ``capabilities.lora``."""


@dataclass(frozen=True, slots=True)
class TopLogprob:
    token: str
    logprob: float
    bytes: list[int]


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    bytes: list[int]
    top: list[TopLogprob]


@dataclass(frozen=True, slots=True)
class PromptLogprobs:
    """A prompt's log-probabilities (vLLM's ``prompt_logprobs``): its first token, which nothing precedes
    and so has none, then each following token's given the tokens before it, with its top alternatives."""

    first: str
    first_bytes: list[int]
    tokens: list[TokenLogprob]


@dataclass(slots=True)
class EngineDelta:
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None
    prompt_logprobs: PromptLogprobs | None = None
    """Once, when the request asked: on the first delta after the prompt is computed (with the first
    token, or alone on the final delta when ``max_tokens`` is 0)."""
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    """Counts so far; exact on the acceptance delta (prompt) and on the final delta (both)."""
    queue_s: float | None = None
    """On the first generated token: seconds the request waited for a slot (for metrics)."""


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    streaming: bool = True
    logprobs: bool = True
    grammar: bool = True
    chat_template: bool = True
    """True when the engine renders chat prompts itself (``render_chat``); upstream HTTP engines don't."""
    prompt_logprobs: bool = False
    """True when the engine honours ``EngineRequest.prompt_logprobs`` (and ``max_tokens`` 0); the
    pipeline refuses such a request on another engine rather than answer without them."""
    lora: bool = False
    """True when the engine serves LoRA adapters per request (:class:`LoraEngine`)."""


@dataclass(frozen=True, slots=True)
class TokenizerInfo:
    """What a client needs to tokenize as the engine does, offline (vLLM's ``GET /tokenizer_info``, which
    lm-evaluation-harness's remote tokenizer reads). Special tokens as text; None where there is none."""

    tokenizer_class: str
    bos_token: str | None
    eos_token: str | None
    pad_token: str | None
    add_bos_token: bool
    add_eos_token: bool
    vocab_size: int
    chat_template: str | None


@dataclass(slots=True)
class EngineStats:
    model: str
    slots: int
    running: int = 0
    waiting: int = 0
    queue_size: int = 0
    requests_total: int = 0
    finished_total: int = 0
    cancelled_total: int = 0
    rejected_total: int = 0
    preemptions_total: int = 0
    prompt_tokens_total: int = 0
    """Prompt tokens of accepted requests."""
    prefill_tokens_total: int = 0
    """Tokens actually computed for prompts (prompt tokens minus prefix-cache reuse, plus recomputation
    after preemption)."""
    generated_tokens_total: int = 0
    prefix_cache_hits_total: int = 0
    prefix_cache_tokens_total: int = 0
    """Prompt tokens taken from the KV cache instead of being computed."""
    kv_cells_total: int = 0
    kv_cells_used: int = 0
    kv_cells_cached: int = 0
    decode_steps_total: int = 0
    batch_tokens_total: int = 0
    last_step_batch: int = 0
    last_step_sequences: int = 0


@runtime_checkable
class Engine(Protocol):
    """What every engine offers. Implementations register in :mod:`deepfort.engines.registry`."""

    model_id: str
    capabilities: EngineCapabilities
    n_ctx: int

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def generate(self, request: EngineRequest) -> AsyncIterator[EngineDelta]:
        """Stream deltas for one sequence; the first is the acceptance. Raises deepfort errors."""
        ...

    def cancel(self, request_id: str) -> None:
        """Stop a request from outside its stream (the client went away). Its stream ends with a delta
        whose ``finish_reason`` is ``"cancelled"``; unknown or finished ids are ignored."""
        ...

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def tokenizer_info(self) -> TokenizerInfo:
        """The tokenizer's special tokens, switches and chat template (``GET /tokenizer_info``)."""
        ...

    def render_chat(
        self, messages: Sequence[dict[str, object]], *, add_generation_prompt: bool = True
    ) -> str:
        """Apply the model's chat template. Only for engines with ``capabilities.chat_template``."""
        ...

    def stats(self) -> EngineStats: ...

    def describe(self) -> dict[str, object]:
        """Static facts for ``GET /v1/models/{id}`` and ``models show`` (path, metadata, context)."""
        ...


@runtime_checkable
class LoraEngine(Protocol):
    """An engine that applies LoRA adapters per request (``capabilities.lora``): loaded from the model
    spec's ``lora`` entries at start, added and removed while it runs."""

    async def add_adapter(self, adapter: LoraAdapter) -> None:
        """Load ``adapter``; requests may name it once this returns. Raises ``ConfigError`` for a file
        that is not a LoRA adapter of this model, ``InvalidRequestError`` for a name in use."""
        ...

    async def remove_adapter(self, name: str) -> None:
        """Stop accepting requests for ``name``; its memory is freed once the requests using it end."""
        ...

    def adapters(self) -> list[LoraAdapter]:
        """The adapters served now, in the order they were added."""
        ...
