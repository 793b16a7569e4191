"""``deepfort chat``: piped stdin, in-process and through a real ``deepfort serve``."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import Result

from deepfort.cli.chat import Session
from deepfort.cli.chat_client import ChatOptions, InProcessBackend
from deepfort.config import load_settings
from tests.conftest import Server

RunDeepfort = Callable[..., "subprocess.CompletedProcess[str]"]
RunCli = Callable[..., Result]

FAST = ["--temperature", "0", "--max-tokens", "24"]
ANSWER = re.compile(r"^(?!you> )([\w.:-]+)> (.*)$")


def _answers(stdout: str) -> list[tuple[str, str]]:
    """``(model, first line of the answer)`` after each ``MODEL> `` label: one per answered turn."""
    return [(m[1], m[2].strip()) for line in stdout.splitlines() if (m := ANSWER.match(line))]


def test_two_turns_in_process(run_deepfort: RunDeepfort) -> None:
    done = run_deepfort("chat", *FAST, input="Say hello\nWhat did I just say?\n/exit\n")
    assert done.returncode == 0, done.stderr
    answers = _answers(done.stdout)
    assert [model for model, _ in answers] == ["smollm2-135m", "smollm2-135m"], done.stdout
    assert all(text for _, text in answers), done.stdout
    assert "you> Say hello" in done.stdout  # piped input is echoed, so the transcript reads as a chat
    assert "demonstration model" in done.stderr and "deepfort models add" in done.stderr
    assert "Traceback" not in done.stderr


def test_commands_and_end_of_input(run_deepfort: RunDeepfort) -> None:
    # No /exit: the pipe running dry ends the chat as Ctrl-D would.
    done = run_deepfort("chat", *FAST, input="Hi\n/reset\n/help\n/nonsense\n\nHello again\n")
    assert done.returncode == 0, done.stderr
    assert "conversation cleared" in done.stdout
    assert "/exit or /quit" in done.stdout
    assert "unknown command /nonsense" in done.stdout
    assert len(_answers(done.stdout)) == 2, done.stdout


def test_unknown_model_fails_before_the_chat(run_deepfort: RunDeepfort) -> None:
    done = run_deepfort("chat", "-m", "no-such-model", input="Hi\n")
    assert done.returncode == 1
    assert "no-such-model" in done.stderr
    assert "Traceback" not in done.stderr


def _turns(settings_model: str | None, prompts: list[str], console: Console) -> Session:
    async def main() -> Session:
        backend = await InProcessBackend.open(
            load_settings(), settings_model, ChatOptions(max_tokens=16, temperature=0)
        )
        try:
            session = Session(backend, console, system="You are brief.")
            for prompt in prompts:
                await session.turn(prompt)
            return session
        finally:
            await backend.aclose()

    return asyncio.run(main())


@pytest.mark.slow  # the real model, in process
def test_history_keeps_both_sides_and_reset_clears_it(data_dir: Path) -> None:
    console = Console(file=io.StringIO(), highlight=False)
    session = _turns(None, ["Say hello", "What did I just say?"], console)
    assert [m["role"] for m in session.history] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in session.history[::2]] == ["Say hello", "What did I just say?"]
    assert all(m["content"] for m in session.history[1::2])
    assert session.messages()[0] == {"role": "system", "content": "You are brief."}
    session.reset()
    assert session.history == []
    assert session.messages() == [{"role": "system", "content": "You are brief."}]


# ChatML whose generation prompt opens a <think> block, as DeepSeek-R1's template does: with the
# deepseek_r1 parser, what the model writes next is reasoning.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


@pytest.mark.slow  # the real model, in process
def test_reasoning_is_shown_dimmed_and_left_out_of_history(
    cli: RunCli, embedded_gguf: Path, tmp_path: Path
) -> None:
    template = tmp_path / "think.jinja"
    template.write_text(THINKING_TEMPLATE)
    added = cli(
        "models", "add", str(embedded_gguf), "--id", "thinker",
        "--reasoning-parser", "deepseek_r1", "--chat-template-file", str(template),
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", highlight=False)
    session = _turns("thinker", ["Why is the sky blue?"], console)
    dimmed = "".join(re.findall(r"\x1b\[2m(.*?)\x1b\[0m", out.getvalue(), flags=re.DOTALL))
    assert dimmed.strip(), out.getvalue()
    assert session.history[0] == {"role": "user", "content": "Why is the sky blue?"}
    assert session.history[1]["role"] == "assistant"
    assert dimmed.strip() not in session.history[1]["content"]


def test_two_turns_through_a_server(run_deepfort: RunDeepfort, server: Server) -> None:
    done = run_deepfort("chat", "--url", server.v1, *FAST, input="Say hello\nWhat did I just say?\n/exit\n")
    assert done.returncode == 0, done.stderr
    # Without --model the chat takes the first model the server lists.
    first = httpx.get(f"{server.v1}/models", timeout=10).json()["data"][0]["id"]
    answers = _answers(done.stdout)
    assert [model for model, _ in answers] == [first, first], done.stdout
    assert "demonstration model" in done.stderr  # the server's model card says demo
    assert all(text for _, text in answers), done.stdout


def test_server_errors_print_one_line_and_the_chat_goes_on(run_deepfort: RunDeepfort, server: Server) -> None:
    done = run_deepfort("chat", "--url", server.v1, "-m", "no-such-model", input="Hi\nHi again\n/exit\n")
    assert done.returncode == 0, done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, done.stdout
    assert "no-such-model" in errors[0]
    assert "Served models:" in errors[0]


def test_unreachable_server_is_one_line_error(run_deepfort: RunDeepfort) -> None:
    done = run_deepfort("chat", "--url", "http://127.0.0.1:9/v1", input="Hi\n")
    assert done.returncode == 1
    assert "error:" in done.stderr
    assert "Traceback" not in done.stderr
