"""Each pipeline layer alone: a call, a run over a scripted event stream, the layer's real collaborators
(a SQLite store, the audit chain, the guards), and what the layer did."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from deepfort.access.audit import AuditLog
from deepfort.access.auth import AuthService
from deepfort.access.keys import ApiKey, Limit
from deepfort.access.limits import make_counters
from deepfort.access.master import open_store
from deepfort.config import GuardSettings, Settings
from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.errors import DeepfortError, NotFoundError, RateLimitError, SensitiveInputError
from deepfort.protocol import ChatCompletionRequest, CompletionRequest
from deepfort.serving.call import Call, Caller
from deepfort.serving.guarding import Guards
from deepfort.serving.layers.audit import AuditLayer
from deepfort.serving.layers.base import Layer
from deepfort.serving.layers.conversation import ConversationLayer
from deepfort.serving.layers.moderation import ModerationLayer
from deepfort.serving.layers.pii import PiiLayer
from deepfort.serving.layers.quota import QuotaLayer
from deepfort.serving.layers.records import RecordsLayer
from deepfort.serving.pipeline import ChatPipeline
from deepfort.serving.run import Run
from deepfort.store import Store

PHONE = "13812345678"
EMAIL = "li.lei@example.cn"


class Script:
    """A message stream that yields scripted events and remembers the choices it was told to stop."""

    def __init__(self, events: list[MessageEvent], usage: MessageUsage | None = None) -> None:
        self.events = events
        self.usage = usage or MessageUsage(prompt_tokens=5, completion_tokens=len(events))
        self.stopped: list[int] = []
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[MessageEvent]:
        for event in self.events:
            if event.index in self.stopped and event.finish_reason is None:
                continue
            yield event

    def cancel(self) -> None:
        self.stopped.append(-1)

    async def aclose(self) -> None:
        self.closed = True


def chat(text: str, **extra: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": text}], **extra}
    )


def make_run(call: Call, stream: Script, choices: int = 1) -> Run:
    return Run(
        call, stream, kind="chat", model="m", served="m", choices=choices, cancel_choice=stream.stopped.append
    )


async def read(run: Run) -> list[MessageEvent]:
    try:
        return [event async for event in run.events()]
    finally:
        await run.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(Settings(data_dir=tmp_path))
    yield opened
    opened.close()


def test_pii_layer_masks_what_the_model_sees_and_keeps_the_original() -> None:
    layer = PiiLayer(Guards(GuardSettings()))
    call = Call(request=chat(f"call {PHONE}"), caller=Caller())
    asyncio.run(layer.before(call))
    assert isinstance(call.request, ChatCompletionRequest) and isinstance(
        call.original, ChatCompletionRequest
    )
    assert PHONE not in str(call.request.messages[0].content)
    assert call.original.messages[0].content == f"call {PHONE}"
    assert call.screened is not None and call.screened.pii.found == {"phone": 1}


def test_pii_layer_masks_text_prompts_but_not_token_prompts() -> None:
    layer = PiiLayer(Guards(GuardSettings()))
    request = CompletionRequest.model_validate({"model": "m", "prompt": [f"mail {EMAIL}", "plain"]})
    call = Call(request=request, caller=Caller())
    asyncio.run(layer.before(call))
    assert isinstance(call.request, CompletionRequest)
    masked = call.request.prompt
    assert isinstance(masked, list) and EMAIL not in str(masked[0]) and masked[1] == "plain"
    tokens = Call(
        request=CompletionRequest.model_validate({"model": "m", "prompt": [1, 2, 3]}), caller=Caller()
    )
    asyncio.run(layer.before(tokens))
    assert tokens.request is tokens.original


def test_pii_layer_refuses_under_block() -> None:
    layer = PiiLayer(Guards(GuardSettings()))
    key = ApiKey(key_id="k", name="k", role="user", pii_policy="block")
    with pytest.raises(SensitiveInputError, match="手机号"):
        asyncio.run(layer.before(Call(request=chat(f"call {PHONE}"), caller=Caller(key=key))))


def test_moderation_layer_restores_masked_values_and_cuts_a_banned_phrase(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("test\tforbidden words\n", encoding="utf-8")
    guards = Guards(GuardSettings.model_validate({"moderation": {"lexicons": [str(lexicon)]}}))
    call = Call(request=chat(f"call {PHONE}"), caller=Caller())
    asyncio.run(PiiLayer(guards).before(call))
    assert isinstance(call.request, ChatCompletionRequest)
    placeholder = str(call.request.messages[0].content).removeprefix("call ")
    stream = Script(
        [
            MessageEvent(index=0, content=f"I will call {placeholder[:4]}"),
            MessageEvent(index=0, content=f"{placeholder[4:]} now. Some forbid"),
            MessageEvent(index=0, content="den words follow"),
            MessageEvent(index=0, content=" and more", finish_reason="stop"),
        ]
    )
    run = make_run(call, stream)
    ModerationLayer(guards).attach(call, run)
    events = asyncio.run(read(run))
    content, _ = run.answer()
    assert PHONE in content and placeholder not in content
    assert "forbidden" not in content
    assert events[-1].finish_reason == "content_filter" and stream.stopped == [0]
    assert run.moderation_hits() == {"test": 1}


def test_conversation_layer_refuses_an_unknown_conversation(store: Store) -> None:
    call = Call(request=chat("hi", conversation_id="nope"), caller=Caller())
    with pytest.raises(NotFoundError):
        asyncio.run(ConversationLayer(store).before(call))


def test_conversation_layer_keeps_what_the_caller_sent_and_the_answer(store: Store) -> None:
    layer = ConversationLayer(store)
    call = Call(request=chat(f"call {PHONE}", conversation_id="new"), caller=Caller(request_id="r1"))
    asyncio.run(layer.before(call))
    call.request = chat("call [masked]")  # what the PII layer would leave for the model
    run = make_run(call, Script([MessageEvent(index=0, content="hello", finish_reason="stop")]))
    run.on_close(lambda r: layer.after(call, r))
    asyncio.run(read(run))
    assert call.conversation_id is not None
    view = store.get_conversation(call.conversation_id, "local")
    assert view is not None
    assert [(m.role, m.content) for m in view.messages] == [("user", f"call {PHONE}"), ("assistant", "hello")]


def test_records_and_audit_layers_after_a_run(store: Store) -> None:
    audit = AuditLog(store)
    guards = Guards(GuardSettings())
    call = Call(request=chat(f"call {PHONE}"), caller=Caller(request_id="r2"))
    asyncio.run(PiiLayer(guards).before(call))
    run = make_run(call, Script([MessageEvent(index=0, content="ok", finish_reason="length")]))
    run.on_close(lambda r: _after_all([RecordsLayer(store), AuditLayer(audit)], call, r))
    asyncio.run(read(run))
    [record] = store.list_request_records()
    assert (record.id, record.finish_reason, record.prompt_tokens) == ("r2", "length", 5)
    entries = [(e.action, json.loads(e.detail)) for e in store.iter_audit()]
    assert entries == [("guard.pii", {"policy": "mask", "kinds": {"phone": 1}, "request_id": "r2"})]


async def _after_all(layers: list[Layer], call: Call, run: Run) -> None:
    for layer in layers:
        await layer.after(call, run)


def test_quota_layer_admits_within_the_rate_and_charges_tokens(store: Store) -> None:
    auth = AuthService(store, AuditLog(store), make_counters(None), listen_host="127.0.0.1")
    key = ApiKey(key_id="q", name="q", role="user", rate=Limit(1, 60), tokens=Limit(7, 60))
    layer = QuotaLayer(auth)

    async def go() -> None:
        call = Call(request=chat("hi"), caller=Caller(key=key))
        await layer.before(call)
        run = make_run(call, Script([MessageEvent(index=0, content="x", finish_reason="stop")]))
        await layer.after(call, run)  # 5 prompt + 1 completion tokens charged
        with pytest.raises(RateLimitError):
            await layer.before(Call(request=chat("again"), caller=Caller(key=key)))

    asyncio.run(go())


class Recorder(Layer):
    def __init__(self, name: str, log: list[str], fail: str | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.log = log
        self.fail = fail

    async def before(self, call: Call) -> None:
        self.log.append(f"before {self.name}")
        if self.fail == "before":
            raise NotFoundError("refused here")

    async def refused(self, call: Call, exc: DeepfortError) -> None:
        self.log.append(f"refused {self.name}")

    async def after(self, call: Call, run: Run) -> None:
        self.log.append(f"after {self.name}")
        if self.fail == "after":
            raise RuntimeError("a record could not be written")


def test_the_pipeline_refuses_layers_out_of_the_declared_order() -> None:
    log: list[str] = []
    with pytest.raises(ValueError, match="declared order"):
        ChatPipeline(None, [Recorder("audit", log), Recorder("quota", log)])  # type: ignore[arg-type]


def test_a_refusal_reaches_every_layer_and_nothing_is_opened() -> None:
    log: list[str] = []
    pipeline = ChatPipeline(None, [Recorder("quota", log, fail="before"), Recorder("pii", log)])  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        asyncio.run(pipeline.execute(chat("hi")))
    assert log == ["before quota", "refused quota", "refused pii"]


def test_a_failing_after_hook_does_not_stop_the_next(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    pipeline = ChatPipeline(None, [Recorder("records", log, fail="after"), Recorder("audit", log)])  # type: ignore[arg-type]
    call = Call(request=chat("hi"), caller=Caller())
    run = make_run(call, Script([MessageEvent(index=0, content="x", finish_reason="stop")]))
    run.on_close(pipeline._after)
    with caplog.at_level(logging.ERROR):
        asyncio.run(read(run))
    assert log == ["after records", "after audit"]
    assert "records layer failed" in caplog.text
