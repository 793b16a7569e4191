"""An external moderation API, asked in addition to the lexicons.

The request is ``POST {"input": text}``; the answer has the shape of OpenAI's ``/v1/moderations``:
``{"results": [{"flagged": bool, "categories": {name: bool, ...}}, ...]}``. When the API fails (timeout,
connection error, HTTP error status, an answer of another shape) the verdict carries the error and is
flagged unless ``fail_open``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

import anyio
import httpx

from deepfort.config import ModerationSettings

__all__ = ["ExternalModerator", "ExternalVerdict"]


@dataclass(frozen=True, slots=True)
class ExternalVerdict:
    flagged: bool
    categories: list[str] = field(default_factory=list)
    error: str | None = None


def _parse(body: object) -> ExternalVerdict:
    if not isinstance(body, dict) or not isinstance(results := body.get("results"), list) or not results:
        raise ValueError("no `results` list")
    flagged = False
    categories: list[str] = []
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
            raise ValueError("a result without a boolean `flagged`")
        flagged = flagged or result["flagged"]
        named = result.get("categories") or {}
        if not isinstance(named, dict):
            raise ValueError("`categories` is not an object")
        categories += [str(name) for name, on in named.items() if on is True and name not in categories]
    return ExternalVerdict(flagged, categories)


class ExternalModerator:
    """Client of one external moderation endpoint; close it with :meth:`aclose` (or ``async with``)."""

    def __init__(
        self, url: str, timeout_s: float, fail_open: bool, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.fail_open = fail_open
        self._own_client = client is None
        self._client = httpx.AsyncClient(timeout=timeout_s) if client is None else client

    @classmethod
    def from_settings(cls, settings: ModerationSettings) -> ExternalModerator | None:
        if not settings.enabled or settings.external_url is None:
            return None
        return cls(settings.external_url, settings.external_timeout_s, settings.fail_open)

    async def check(self, text: str) -> ExternalVerdict:
        """The API's verdict on ``text``; never raises for a failing API (see the module docstring)."""
        try:
            # One deadline for the whole exchange: httpx's timeouts apply to each read separately.
            with anyio.fail_after(self.timeout_s):
                response = await self._client.post(self.url, json={"input": text})
            response.raise_for_status()
            return _parse(response.json())
        except (TimeoutError, httpx.TimeoutException):
            return self._failed(f"no answer within {self.timeout_s:g}s")
        except httpx.HTTPStatusError as exc:
            return self._failed(f"HTTP {exc.response.status_code}")
        except httpx.HTTPError as exc:
            return self._failed(f"{type(exc).__name__}: {exc}")
        except ValueError as exc:  # JSON that does not parse, or of another shape
            return self._failed(f"unexpected answer: {exc}")

    def _failed(self, error: str) -> ExternalVerdict:
        return ExternalVerdict(flagged=not self.fail_open, error=f"external moderation failed: {error}")

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> ExternalModerator:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
