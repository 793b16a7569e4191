"""``deepfort chat``: a terminal chat that streams, shows reasoning dimmed and keeps the history."""

from __future__ import annotations


def chat() -> None:
    """placeholder"""
