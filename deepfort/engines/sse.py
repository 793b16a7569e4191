"""Server-sent events framing, as OpenAI-compatible servers use it for streamed completions.

The WHATWG rules: the stream is UTF-8; lines end in CRLF, LF or CR and nothing else (httpx's
``aiter_lines`` also splits on U+2028, U+0085 and the like, which JSON may carry unescaped inside a model's
text, so this module splits lines itself); an event is dispatched at a blank line, its ``data`` lines joined
with ``\\n``; the space after the colon is optional; comments (``: keep-alive``), ``id:`` and ``retry:`` are
ignored. An event that the stream ends in the middle of (no blank line after it) is dropped, as the spec
says, so a cut-off connection never yields half a JSON text.

One departure: llama.cpp's server reports a failure mid-stream as an ``error: {...}`` line, a field the
spec does not have. It is read as an event named ``error`` carrying that text, the same as
``event: error`` with ``data: {...}``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerEvent", "aiter_sse"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerEvent:
    data: str
    event: str = "message"


class SSEDecoder:
    """Turn text, in chunks of any size, into complete events."""

    def __init__(self) -> None:
        self._buffer = ""
        self._started = False
        self._data: list[str] = []
        self._event = "message"

    def feed(self, text: str) -> list[ServerEvent]:
        """Take the next piece of the stream; return the events it completes."""
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        buffer, start, events = self._buffer + text, 0, []
        while (end := _LINE_END.search(buffer, start)) is not None:
            if end.group() == "\r" and end.end() == len(buffer):
                break  # maybe the first half of a CRLF split between chunks
            event = self._line(buffer[start : end.start()])
            if event is not None:
                events.append(event)
            start = end.end()
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            data, event = self._data, self._event
            self._data, self._event = [], "message"
            return ServerEvent("\n".join(data), event) if data else None
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value or "message"
        elif field == "error":
            self._event = "error"
            self._data.append(value)
        return None


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncGenerator[ServerEvent, None]:
    """The complete events in a byte stream (httpx's ``aiter_bytes``)."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(text.decode(chunk)):
            yield event
