"""A process module that refuses to load while ``BREAK`` (a file beside it) exists: its first
workers start, and a worker started after the file appears cannot."""

from __future__ import annotations

import os
from pathlib import Path

BREAK = Path(__file__).with_name(".fragile_import_breaks")

if BREAK.exists():
    raise ImportError(f"{BREAK} exists: this module refuses to load")


def exit_with(code: int) -> None:
    os._exit(code)


def echo(value: object) -> object:
    return value
