"""An async client for any OpenAI-compatible server, as an eval needs it: one chat answer with its reasoning
apart, or one continuation's log-probability.

The servers it is written for, and what each does differently:

- deepfort, vLLM and DeepSeek's API send the reasoning as ``message.reasoning_content``; some servers
  (recent vLLM, Ollama's OpenAI layer, OpenRouter) as ``message.reasoning``. llama-server without a
  reasoning parser leaves a ``<think>...</think>`` block in ``content`` (or only the closing tag, when the
  chat template opened the block): :func:`split_think` takes it out, so an answer is never extracted from
  the reasoning.
- Token counts: ``usage.completion_tokens`` and, where the server gives it,
  ``usage.completion_tokens_details.reasoning_tokens``. Otherwise the reasoning's share is estimated from
  its share of the characters, and the reply says so (:attr:`Reply.tokens_estimated`).
- Log-likelihood: ``/v1/completions`` with ``echo`` and ``logprobs`` (OpenAI's legacy API, vLLM,
  deepfort). A server that answers without the prompt's log-probabilities (llama-server, Ollama, an
  older deepfort) gets :class:`EvalError`, never a silent score: lm-eval's users got chance-level numbers
  with no error from exactly this (lm-eval #4158, #2525).

Retries: a 429, a 5xx or a transport error is retried with exponential backoff (``Retry-After`` honoured);
any other 4xx is the request's fault and raises at once with the server's message.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from deepfort.errors import DeepfortError
from deepfort.evals.base import GenerateRequest, Generation, Loglikelihood, LoglikelihoodRequest

__all__ = [
    "NO_PROMPT_LOGPROBS",
    "EvalClient",
    "EvalError",
    "Reply",
    "SamplingParams",
    "continuation_span",
    "split_think",
]

NO_PROMPT_LOGPROBS = (
    "this server does not return prompt log-probabilities (echo + logprobs); use generate mode"
)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class EvalError(DeepfortError):
    """An eval cannot go on: the server refused or failed a request, a run file does not fit the run, a
    suite has no data. The message says what to change."""


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """The sampling options of a ``generate`` request; None leaves the server's (or model's) default."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    def body(self) -> dict[str, Any]:
        fields = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Reply(Generation):
    """A :class:`Generation` as this client read it: ``tokens_estimated`` is true when the server did not
    give the reasoning's token count (or any count) and it was estimated from the characters."""

    tokens_estimated: bool = False


def split_think(content: str) -> tuple[str, str]:
    """``(reasoning, answer)`` of a reply whose reasoning was left in ``content``.

    ``<think>R</think>A`` and ``R</think>A`` (the chat template opened the block) give ``(R, A)``; an
    opened block that never closes (cut by ``max_tokens``) is all reasoning, with no answer; text without
    the tags is all answer.
    """
    stripped = content.lstrip()
    if THINK_CLOSE in content:
        head, _, answer = content.partition(THINK_CLOSE)
        head = head.lstrip()
        if head.startswith(THINK_OPEN):
            head = head[len(THINK_OPEN) :]
        return head.strip(), answer.lstrip()
    if stripped.startswith(THINK_OPEN):
        return stripped[len(THINK_OPEN) :].strip(), ""
    return "", content


def _estimate_tokens(text: str) -> int:
    # About four characters a token for English BPE vocabularies (fewer for Chinese): only ever a fallback.
    return math.ceil(len(text) / 4)


def continuation_span(offsets: Sequence[int], boundary: int, end: int) -> range:
    """The indexes of the tokens that make up the text in ``[boundary, end)``, given each token's start.

    A token that starts before ``boundary`` and ends after it (``"Answer:" + " A"`` can be one token
    ``": A"``; a context ending in a space usually merges it into the next word) belongs to the
    continuation: it is the only token that carries the continuation's first characters, and its
    log-probability is conditioned on the context before it. lm-eval does the same by moving the
    context's trailing spaces into the continuation before tokenizing. Tokens from ``end`` on (one
    generated token, when the server refused ``max_tokens: 0``) are left out.
    """
    first = None
    last = len(offsets)
    for i, start in enumerate(offsets):
        if start >= end:
            last = i
            break
        token_end = offsets[i + 1] if i + 1 < len(offsets) else end
        if first is None and token_end > boundary:
            first = i
    return range(last if first is None else first, last)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or body["error"])
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])  # Ollama's shape
    return response.text[:300]


def normalise_base_url(url: str) -> str:
    """The API root requests are made under: ``/v1`` is added to a bare ``http://host:port`` (what
    deepfort, vLLM, llama-server, Ollama and DeepSeek's API all serve); a URL with a path is kept."""
    url = url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


class EvalClient:
    """Asks one model on one OpenAI-compatible server. ``transport`` replaces the network (an in-process
    app through ``httpx.ASGITransport``, a test's ``httpx.MockTransport``). ``requests`` counts the HTTP
    requests sent, retries included."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 1800.0,
        retries: int = 5,
        backoff_s: float = 1.0,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.model = model
        self.retries = retries
        self.backoff_s = backoff_s
        self.requests = 0
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # A reasoning model may think for many minutes before the (non-streamed) answer comes back.
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=30.0),
        )
        self._completion_max_tokens = 0  # 1 once a server has refused 0 (llama-server, older deepfort)

    async def __aenter__(self) -> EvalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def models(self) -> list[str]:
        """The model ids ``GET /models`` lists, in its order."""
        try:
            response = await self._http.get("/models")
        except httpx.TransportError as exc:
            raise EvalError(f"cannot reach {self.base_url}/models: {exc!r}") from None
        if response.status_code != 200:
            raise EvalError(
                f"{self.base_url}/models answered {response.status_code}: {_error_message(response)}"
            )
        try:
            return [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise EvalError(f"{self.base_url}/models answered something that is not a model list") from None

    # -- generate ------------------------------------------------------------------------------------------

    async def generate(self, request: GenerateRequest, params: SamplingParams) -> Reply:
        """One chat completion (not streamed) for ``request``, the reasoning apart from the answer."""
        body: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in request.messages]}
        body.update(params.body())
        data = await self._post("/chat/completions", body)
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (KeyError, IndexError, TypeError):
            raise EvalError(
                f"{self.base_url}/chat/completions answered without a choice: {data!r:.300}"
            ) from None
        return _reply(message, choice.get("finish_reason"), data.get("usage"))

    # -- loglikelihood -------------------------------------------------------------------------------------

    async def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood:
        """log P(continuation | context) from the echoed prompt's token log-probabilities."""
        prompt = request.context + request.continuation
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "echo": True,
            "logprobs": 1,
            "max_tokens": self._completion_max_tokens,
            "temperature": 0,
        }
        try:
            data = await self._post("/completions", body)
        except _ClientError as exc:
            if self._completion_max_tokens != 0:
                raise
            # llama-server and some others refuse max_tokens 0: one generated token, left out below.
            self._completion_max_tokens = 1
            try:
                data = await self._post("/completions", {**body, "max_tokens": 1})
            except _ClientError:
                raise EvalError(f"{exc.message}; {NO_PROMPT_LOGPROBS}?") from None
        return _score(data, request, prompt)

    # -- transport -----------------------------------------------------------------------------------------

    async def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            self.requests += 1
            wait: float | None = None
            try:
                response = await self._http.post(path, json=body)
            except httpx.TransportError as exc:
                problem = f"cannot reach {self.base_url}{path}: {exc!r}"
            else:
                if response.status_code == 200:
                    try:
                        data = response.json()
                    except ValueError:
                        raise EvalError(
                            f"{self.base_url}{path} answered 200 with a body that is not JSON"
                        ) from None
                    if not isinstance(data, dict):
                        raise EvalError(f"{self.base_url}{path} answered 200 with {data!r:.200}")
                    return data
                problem = f"{self.base_url}{path} answered {response.status_code}: {_error_message(response)}"
                if response.status_code != 429 and response.status_code < 500:
                    raise _ClientError(problem)
                wait = _retry_after(response)
            if attempt >= self.retries:
                raise EvalError(f"{problem} (after {attempt + 1} attempts)")
            delay = self.backoff_s * 2**attempt * (0.5 + random.random() / 2)
            await asyncio.sleep(max(delay, wait or 0.0))
            attempt += 1


class _ClientError(EvalError):
    """A 4xx other than 429: the request itself was refused and asking again will not help."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(float(value), 120.0) if value is not None else None
    except ValueError:
        return None


def _reply(message: Mapping[str, Any], finish_reason: object, usage: object) -> Reply:
    content = str(message.get("content") or "")
    reasoning = str(message.get("reasoning_content") or message.get("reasoning") or "")
    if not reasoning:
        reasoning, content = split_think(content)
    finish = str(finish_reason or "stop")
    counts = usage if isinstance(usage, Mapping) else {}
    completion = counts.get("completion_tokens")
    details = counts.get("completion_tokens_details")
    reasoning_tokens = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    estimated = False
    if not isinstance(completion, int):
        completion = _estimate_tokens(reasoning) + _estimate_tokens(content)
        estimated = True
    if not isinstance(reasoning_tokens, int):
        if reasoning:
            share = len(reasoning) / (len(reasoning) + len(content))
            reasoning_tokens = round(completion * share)
            estimated = True
        else:
            reasoning_tokens = 0
    return Reply(
        content=content,
        reasoning=reasoning,
        finish_reason=finish,
        completion_tokens=completion,
        reasoning_tokens=min(reasoning_tokens, completion),
        tokens_estimated=estimated,
    )


def _score(data: Mapping[str, Any], request: LoglikelihoodRequest, prompt: str) -> Loglikelihood:
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError):
        raise EvalError(f"/completions answered without a choice: {data!r:.300}") from None
    logprobs = choice.get("logprobs")
    text = choice.get("text")
    if not isinstance(logprobs, Mapping) or not isinstance(text, str) or not text.startswith(prompt):
        raise EvalError(NO_PROMPT_LOGPROBS)
    offsets = logprobs.get("text_offset") or []
    values = logprobs.get("token_logprobs") or []
    tokens = logprobs.get("tokens") or []
    tops = logprobs.get("top_logprobs") or []
    usage = data.get("usage")
    prompt_tokens = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
    if (
        not offsets
        or len(values) != len(offsets)
        or (isinstance(prompt_tokens, int) and len(values) < prompt_tokens)
    ):
        raise EvalError(NO_PROMPT_LOGPROBS)
    span = continuation_span([int(o) for o in offsets], len(request.context), len(prompt))
    if not span or all(v is None for v in values[1:]):
        raise EvalError(NO_PROMPT_LOGPROBS)
    total, greedy = 0.0, True
    for i in span:
        value = values[i]
        if value is None:
            if i == 0:
                continue  # the first token of a prompt has nothing to be conditioned on
            raise EvalError(NO_PROMPT_LOGPROBS)
        total += float(value)
        top = tops[i] if i < len(tops) else None
        if not isinstance(top, Mapping) or not top:
            greedy = False
        elif i < len(tokens) and tokens[i] in top:
            greedy = greedy and float(top[tokens[i]]) >= max(float(v) for v in top.values()) - 1e-6
        else:
            greedy = greedy and float(value) >= max(float(v) for v in top.values()) - 1e-6
    return Loglikelihood(logprob=total, is_greedy=greedy)
