"""Progress of a run or of profiling on stderr: a tqdm bar on a terminal, plain lines in a
log.

A run counts rounds (one process for each engine of a group: experiment, variant, size),
profiling counts profiles. Piped into a file, a bar is one long line of carriage returns;
there each finished round gets its own line (name, elapsed and ETA), each finished cell its
own (status and median), and the failed cells are named at the end.
"""

from __future__ import annotations

import statistics
import sys
import time
from types import TracebackType
from typing import Any, TextIO


class Progress:
    """Reports cells (or profiles) as they finish; use as a context manager around the run."""

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None,
                 unit: str = "cell") -> None:
        self.total, self.enabled = total, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.failed: list[tuple[str, str]] = []
        self.start = time.monotonic()
        self.bar = None
        if enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.stream, unit=unit, dynamic_ncols=True)

    def add(self, units: int) -> None:
        """More work than planned (rounds measured again): the total grows."""
        self.total += units
        if self.bar is not None and units:
            self.bar.total = self.total
            self.bar.refresh()

    def starting(self, name: str) -> None:
        """A cell (or a profile) starts (shown on the bar only)."""
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=True)

    def record(self, lines: list[dict[str, Any]]) -> None:
        """A cell ended, not a unit of work itself (a run counts rounds): named again at the
        end if it failed, and in a log given its own line (status and median)."""
        cell = lines[-1]
        if cell["status"] not in ("ok", "skipped"):
            self.failed.append((cell["cell"], cell["status"]))
        if self.enabled and self.bar is None:
            print(f"  {cell['cell']} {cell['status']}{_median(lines)}", file=self.stream,
                  flush=True)

    def ended(self, name: str, status: str, detail: str = "") -> None:
        """One unit of work (a cell, a profile) ended with ``status`` ("ok", "skipped" or
        a failure, named again at the end)."""
        self.done += 1
        if status not in ("ok", "skipped"):
            self.failed.append((name, status))
        if self.bar is not None:
            self.bar.set_postfix_str(name, refresh=False)
            self.bar.update(1)
        elif self.enabled:
            elapsed = time.monotonic() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {name} {status}{detail}  "
                  f"elapsed {_clock(elapsed)} ETA {_clock(eta)}", file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar; name the failed cells."""
        if self.bar is not None:
            self.bar.close()
        if self.enabled and self.failed:
            names = ", ".join(f"{cell} ({status})" for cell, status in self.failed)
            print(f"failed cells ({len(self.failed)}): {names}", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _median(lines: list[dict[str, Any]]) -> str:
    values = [line["value"] for line in lines[:-1] if line.get("kind") == "repeat"]
    return f" median {_seconds(statistics.median(values))}" if values else ""


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
