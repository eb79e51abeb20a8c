"""Atomic file writes: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, writer: Callable[[Path], None]) -> Path:
    """Call writer(temporary_path), fsync it, and rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        writer(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Atomically write a UTF-8 text file."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
