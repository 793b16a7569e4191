"""Checks on this machine: ports free (or already deepfort's), model files, key file modes, data dir."""

from __future__ import annotations

import errno
import os
import socket
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from deepfort.doctor.gguf import MAGIC

Status = Literal["ok", "warn", "fail"]
MIN_FREE_DISK = 1024**3


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None
    """One line telling how to fix it (warn and fail only)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_deepfort(cmdline: list[str]) -> bool:
    """``deepfort serve ...`` or ``python -m deepfort serve ...`` (not merely a path with the word in it)."""
    args = [Path(a).name for a in cmdline]
    if "-m" in args and args.index("-m") + 1 < len(args) and args[args.index("-m") + 1] == "deepfort":
        return True
    return any(a == "deepfort" for a in args[:2])


def port_owner(port: int) -> tuple[int, str, bool] | None:
    """(pid, command line, is deepfort) of the process listening on ``port``; None when unknown (another
    user's process needs root to be seen)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                cmdline = psutil.Process(conn.pid).cmdline()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return conn.pid, "", False
            return conn.pid, " ".join(cmdline), _is_deepfort(cmdline)
    return None


def check_port(name: str, host: str, port: int, setting: str) -> Check:
    """Bind ``host:port`` as the server would (``SO_REUSEADDR``, like uvicorn and grpc)."""
    if port == 0:
        return Check(name, "ok", f"{host}:0 (any free port)")
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return Check(name, "fail", f"{host!r} does not resolve: {exc.strerror}", f"fix {setting} host")
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except PermissionError:
            return Check(
                name, "fail", f"{where}: binding needs privileges", f"use a port above 1023 ({setting})"
            )
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return Check(name, "fail", f"{host} is no address of this machine", f"fix {setting}")
            if exc.errno != errno.EADDRINUSE:
                return Check(name, "fail", f"{where}: {exc.strerror}", f"fix {setting}")
            owner = port_owner(port)
            if owner is not None and owner[2]:
                return Check(name, "ok", f"{where} in use by deepfort (pid {owner[0]}), already running")
            by = f"pid {owner[0]} ({owner[1][:80] or 'unknown command'})" if owner else "another process"
            return Check(name, "fail", f"{where} is taken by {by}", f"stop it or choose another {setting}")
    return Check(name, "ok", f"{where} is free")


def check_model_file(model_id: str, path: Path) -> Check:
    name = f"model file {model_id}"
    if not path.is_file():
        return Check(
            name, "fail", f"{path} does not exist", "fix the model's path or `deepfort models add` it"
        )
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        return Check(name, "fail", f"{path}: {exc.strerror}", "make it readable by the server's user")
    if head != MAGIC:
        return Check(
            name, "fail", f"{path} is not a GGUF file", "convert it with llama.cpp's convert_hf_to_gguf.py"
        )
    return Check(name, "ok", f"{path} (GGUF, {path.stat().st_size / 1024**2:.0f} MiB)")


def check_secret_file(name: str, path: Path, *, required: bool, missing_ok: str = "") -> Check:
    """A key file must exist when ``required`` and never be readable by group or others (mode 0600)."""
    if not path.exists():
        if required:
            return Check(name, "fail", f"{path} does not exist", "create it or fix the setting that names it")
        return Check(name, "ok", f"{path} not there{missing_ok}")
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Check(
            name, "fail", f"{path} has mode {mode:04o}: group/others may read it", f"chmod 600 {path}"
        )
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return Check(
            name,
            "warn",
            f"{path} (mode {mode:04o}) belongs to uid {info.st_uid}",
            f"chown it to {os.geteuid()}",
        )
    return Check(name, "ok", f"{path} (mode {mode:04o})")


def check_data_dir(path: Path, free_bytes: int) -> Check:
    name = "data dir"
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return Check(
            name, "fail", f"{existing} is not writable", "fix its owner/mode or set DEEPFORT_DATA_DIR"
        )
    free = f"{free_bytes / 1024**3:.1f} GiB free"
    if free_bytes < MIN_FREE_DISK:
        return Check(name, "warn", f"{path}: only {free}", "free some disk space for the database and logs")
    created = "" if path.exists() else " (created on first start)"
    return Check(name, "ok", f"{path}{created}, {free}")
