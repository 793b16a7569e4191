"""``deepfort chat``: a terminal chat that streams, shows reasoning dimmed and keeps the history."""

from __future__ import annotations

import asyncio
import sys
from contextlib import aclosing
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from deepfort.catalog import DEMO_NOTICE
from deepfort.cli.chat_client import ChatBackend, ChatOptions, HttpBackend, InProcessBackend, Message
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.errors import DeepfortError
from deepfort.protocol import ReasoningEffort

HELP = "/reset forgets the conversation, /help shows this, /exit or /quit (or Ctrl-D) ends the chat."


class Session:
    """One conversation: the history (user and assistant turns, never the reasoning, as DeepSeek
    documents for multi-turn use) and how an answer is shown as it streams."""

    def __init__(self, backend: ChatBackend, console: Console, system: str | None = None) -> None:
        self.backend = backend
        self.console = console
        self.system = system
        self.history: list[Message] = []

    def messages(self) -> list[Message]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, *self.history]

    def reset(self) -> None:
        self.history.clear()

    async def turn(self, text: str) -> str:
        """Answer ``text``: reasoning streams dimmed, then the answer after the model's name. The turn
        joins the history only once the answer is complete; an error or Ctrl-C leaves no trace."""
        messages = [*self.messages(), {"role": "user", "content": text}]
        answer: list[str] = []
        reasoned = labelled = False
        try:
            async with aclosing(self.backend.stream(messages)) as deltas:
                async for reasoning, content in deltas:
                    if reasoning:
                        self._write(reasoning, style="dim")
                        reasoned = True
                    if content:
                        labelled = labelled or self._label(reasoned)
                        answer.append(content)
                        self._write(content)
            labelled = labelled or self._label(reasoned)
        finally:
            if reasoned or labelled:
                self.console.print()
        reply = "".join(answer)
        self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
        return reply

    def _label(self, after_reasoning: bool) -> bool:
        if after_reasoning:
            self.console.print()
        self.console.print(f"[bold blue]{escape(self.backend.model)}>[/] ", end="")
        return True

    def _write(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, end="", markup=False, highlight=False, soft_wrap=True)


def _read_line(console: Console) -> str | None:
    """One line from the user; None at end of input (Ctrl-D, a pipe that ran dry) or on Ctrl-C."""
    try:
        line = console.input("[bold green]you>[/] ")
    except (EOFError, KeyboardInterrupt):
        console.print()
        return None
    if not sys.stdin.isatty():
        # Nothing echoed the piped line; show it so that the transcript reads as a conversation.
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return line


def _error_line(exc: Exception) -> str:
    if isinstance(exc, DeepfortError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _is_demo(backend: ChatBackend) -> bool:
    """Whether the embedded demonstration model answers; a deepfort server says so in its model card."""
    if isinstance(backend, InProcessBackend):
        return backend.node.pool.default.spec.embedded
    if isinstance(backend, HttpBackend):
        try:
            response = await backend.client.get(f"/models/{backend.model}")
            card = response.json() if response.is_success else None
        except (httpx.HTTPError, ValueError):
            return False  # no notice from a server that cannot say
        return isinstance(card, dict) and card.get("demo") is True
    return False


def _loop(runner: asyncio.Runner, session: Session, console: Console) -> None:
    while (line := _read_line(console)) is not None:
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            session.reset()
            console.print("[dim]conversation cleared[/]")
        elif text == "/help":
            console.print(HELP, highlight=False)
        elif text.startswith("/"):
            console.print(f"[yellow]unknown command {escape(text)}[/]; {HELP}", highlight=False)
        else:
            try:
                runner.run(session.turn(text))
            except (DeepfortError, httpx.HTTPError) as exc:
                console.print(f"[red]error: {escape(_error_line(exc))}[/]", highlight=False, soft_wrap=True)
            except KeyboardInterrupt:
                console.print("[yellow]interrupted[/]")


def chat(
    url: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1. Default: load the model here."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model id (or GGUF path). Default: the first served model."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Most tokens per answer.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, max=2.0, help="Sampling temperature.")] = None,
    reasoning_effort: Annotated[
        ReasoningEffort | None, typer.Option(help="How long a reasoning model thinks.")
    ] = None,
) -> None:
    """Chat in the terminal, with the models loaded here or with a running server (--url)."""
    options = ChatOptions(
        max_tokens=max_tokens,
        temperature=temperature,
        reasoning_effort=reasoning_effort,
    )
    console = Console(highlight=False)
    with asyncio.Runner() as runner:
        backend: ChatBackend
        try:
            with err_console.status("connecting" if url else "loading the model"):
                if url:
                    backend = runner.run(HttpBackend.open(url, model, options))
                else:
                    settings = settings_or_exit(config)
                    backend = runner.run(InProcessBackend.open(settings, model, options))
        except httpx.HTTPError as exc:
            fail(_error_line(exc))
        err_console.print(
            f"chatting with [bold]{escape(backend.model)}[/]; {HELP}", highlight=False, soft_wrap=True
        )
        if runner.run(_is_demo(backend)):
            notice = DEMO_NOTICE.format(model=backend.model)
            err_console.print(f"[yellow]{escape(notice)}[/]", highlight=False, soft_wrap=True)
        try:
            _loop(runner, Session(backend, console, system), console)
        finally:
            runner.run(backend.aclose())
