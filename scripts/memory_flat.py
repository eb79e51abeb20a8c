"""Show that reverse mode frees its graphs: RSS over many E1 calls, and a retained graph.

    python scripts/memory_flat.py [--calls 1000000]

Prints the process's resident memory (RSS) before, during and after N calls of the report's
E1 function in reverse mode on Python floats (a fresh graph per call, backward, read .grad),
then the memory held by one large graph kept with ``retain_graph=True`` and what is left
once its output is dropped. A benchmark, not a test: it reports figures.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

import bobodiff as bd


def rss_mib() -> float:
    """Resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


def e1(x1, x2, x3):
    return (x1 * bd.sin(x2) + bd.log((x3**2 + 1) ** 2) + bd.exp(x1 * x3)) * bd.cos(x2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    points = [tuple(map(float, p)) for p in rng.uniform(-1, 1, (1000, 3))]
    checkpoints = {int(args.calls * k / 10) for k in range(1, 11)}
    print(f"E1 reverse mode on floats, {args.calls:,} calls")
    before = rss_mib()
    print(f"  RSS before: {before:8.2f} MiB")
    start = time.perf_counter()
    for i in range(1, args.calls + 1):
        a, b, c = points[i % 1000]
        x1, x2, x3 = bd.Tensor(a), bd.Tensor(b), bd.Tensor(c)
        y = e1(x1, x2, x3)
        y.backward()
        if i in checkpoints:
            print(f"  after {i:>9,} calls: RSS {rss_mib():8.2f} MiB "
                  f"({(time.perf_counter() - start) / i * 1e6:.1f} us/call)")
    after = rss_mib()
    print(f"  RSS growth over {args.calls:,} calls: {after - before:+.2f} MiB")

    gc.collect()
    base = rss_mib()
    x = bd.Tensor(0.5)
    y = x
    for _ in range(300_000):
        y = bd.sin(y) * 1.0001 + 0.1
    y.backward(retain_graph=True)
    held = rss_mib()
    del y
    released = rss_mib()
    print(f"retain_graph=True, a 900,000-node graph: RSS {base:.1f} -> {held:.1f} MiB while "
          f"held, {released:.1f} MiB once its output is dropped (no gc.collect() needed)")


if __name__ == "__main__":
    main()
