"""Recognise a cell that ran out of its address-space limit (run.memory_limit_mb).

Under RLIMIT_AS the failure rarely says "out of memory": the dynamic loader cannot map a
shared library ("failed to map segment"), NumPy then blames a broken install, OpenBLAS
gives up allocating its buffers. All of these are reported as ``oom`` with a message that
names the limit. Imported by the cell process before NumPy: standard library only.
"""

from __future__ import annotations

MARKERS = ("failed to map segment", "cannot allocate memory", "can't allocate memory",
           "memory allocation", "out of memory", "allocate memory", "std::bad_alloc",
           "memoryerror")


def looks_like_oom(text: str) -> bool:
    """Whether an error text reads like an allocation or mapping failure."""
    lowered = text.lower()
    return any(marker in lowered for marker in MARKERS)


def error_text(error: BaseException) -> str:
    """The error and the errors it was raised from or during, as one text."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def oom_message(limit_mb: int, detail: str) -> str:
    """The message of an oom cell: what failed, the limit, and what to do."""
    first = next((line.strip() for line in detail.splitlines() if line.strip()), "")
    advice = (f"out of memory under run.memory_limit_mb = {limit_mb} MiB (RLIMIT_AS); raise "
              "run.memory_limit_mb (0 = no limit)" if limit_mb > 0 else "out of memory")
    return f"{advice}: {first[:300]}" if first else advice


def relabel(result: dict, output: str, limit_mb: int) -> dict:
    """A failed result whose error or output reads like an allocation failure under a
    memory limit, relabelled ``oom``; other results unchanged."""
    if limit_mb <= 0 or result.get("status") not in ("error", "crashed"):
        return result
    if result.get("message", "").startswith("wrong result"):
        return result
    text = "\n".join((result.get("message", ""), result.get("traceback", ""), output))
    if not looks_like_oom(text):
        return result
    detail = next(line for line in text.splitlines() if looks_like_oom(line))
    return {**result, "status": "oom", "message": oom_message(limit_mb, detail)}
