"""The harness's child processes: one supervisor for cells and profiles.

Every child runs in its own process group, is registered while it lives (so an interruption
kills them all), has a hard timeout, and writes its output to a log file. A timing process
is either started fresh (``exec``: a new interpreter that imports NumPy, the engine and the
harness itself) or forked from a warm interpreter that has imported them already (``fork``,
the default; see :class:`WarmPool`), which removes the import from every process after the
first: 2.6 s for torch, 1.5 s for JAX, 0.2 s for NumPy, paid once per round instead of once
per process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.environment import PROJECT_ROOT, thread_environment
from harness.lifecycle import RUNNER_PID_ENV

WARM_COMMAND = (sys.executable, "-m", "harness._warm")
READY_SECONDS = 180.0  # importing torch under a loaded machine can take tens of seconds
REPLY_SECONDS = 30.0


@dataclass(frozen=True)
class _Pid:
    """A process known only by its pid (a forked cell); killed by its process group."""

    pid: int


class Children:
    """The child processes alive now, so an interruption can kill every one of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[Any] = set()
        self.stopping = False

    def add(self, process: Any) -> None:
        """Register a process (anything with a ``pid``); kill it at once if stopping."""
        with self.lock:
            self.running.add(process)
            if self.stopping:
                kill_group(process, wait=False)

    def discard(self, process: Any) -> None:
        """Forget a process that has ended."""
        with self.lock:
            self.running.discard(process)

    def kill_all(self) -> None:
        """Kill every registered process group; later additions are killed on arrival."""
        with self.lock:
            self.stopping = True
            for process in list(self.running):
                kill_group(process, wait=False)


CHILDREN = Children()


def kill_group(process: Any, wait: bool = True) -> None:
    """SIGKILL the process group led by ``process`` (and wait for it, if it is a Popen)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if wait and isinstance(process, subprocess.Popen):
        process.wait()


def child_env(threads: int, metric: str = "time") -> dict[str, str]:
    """The environment of a child: ours, thread pools pinned, the runner's pid, the project
    on PYTHONPATH (OPENBLAS_* / MKL_* variables are passed on untouched)."""
    env = dict(os.environ)
    env.update(thread_environment(threads))
    env[RUNNER_PID_ENV] = str(os.getpid())
    if metric == "instructions":  # str hashes (set and dict layouts) the same in every run
        env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT),
                                                    env.get("PYTHONPATH")) if p)
    return env


def run_child(command: list[str] | tuple[str, ...], log_path: Path, timeout: float,
              env: dict[str, str], stdin: bytes | None = None,
              cwd: Path = PROJECT_ROOT) -> tuple[int | None, bool]:
    """Run a fresh child with stdout and stderr to ``log_path``; return (returncode,
    timed_out). A child still running after ``timeout`` seconds is killed with its group."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        CHILDREN.add(process)
        try:
            process.communicate(stdin, timeout=timeout)
            return process.returncode, False
        except subprocess.TimeoutExpired:
            kill_group(process)
            return process.returncode, True
        except BaseException:
            kill_group(process)
            raise
        finally:
            CHILDREN.discard(process)


class WarmError(RuntimeError):
    """A warm interpreter could not start or stopped answering; the caller starts fresh."""


class WarmInterpreter:
    """A child interpreter that has imported NumPy, the harness and some packages, and forks
    one process per cell on request (the server side is ``harness/_warm.py``).

    The forked process is a new process with its own memory; it inherits the warm
    interpreter's imported modules, hash seed and memory layout. The runner keeps one warm
    interpreter per round of processes, so the processes of one cell still come from
    independent interpreters (different hash seeds and address-space layouts).
    """

    def __init__(self, packages: tuple[str, ...], env: dict[str, str],
                 preload: tuple[str, ...] = ()):
        self.packages = packages
        # Its own output (import warnings) is dropped: a forked cell writes to its cell's
        # log, and an interpreter that fails to start is replaced by a fresh process, whose
        # log then tells why.
        self.process = subprocess.Popen(
            [*WARM_COMMAND, *packages, *(("--", *preload) if preload else ())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, cwd=PROJECT_ROOT, start_new_session=True)
        CHILDREN.add(self.process)
        self.buffer = b""
        try:
            self.ready = self._receive(time.monotonic() + READY_SECONDS)
            if not self.ready.get("ready"):
                raise WarmError(f"warm interpreter {packages} refused: "
                                f"{self.ready.get('message')}")
        except (WarmError, TimeoutError) as error:
            self.close()
            raise WarmError(f"warm interpreter {packages} not ready: {error}") from error

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as error:
            raise WarmError(f"warm interpreter {self.packages} gone: {error}") from error

    def _receive(self, deadline: float) -> dict[str, Any]:
        """The next reply line; TimeoutError at the deadline, WarmError at end of file."""
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WarmError(f"warm interpreter {self.packages} exited "
                                f"(code {self.process.poll()})")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError as error:
            raise WarmError(f"warm interpreter {self.packages} wrote {line[:200]!r}") from error

    def run(self, spec: dict[str, Any], log_path: Path,
            timeout: float) -> tuple[int | None, bool]:
        """Fork a process that runs the cell ``spec``; return (returncode, timed_out)."""
        self._send({"spec": spec, "log": str(log_path)})
        try:
            child = _Pid(int(self._receive(time.monotonic() + REPLY_SECONDS)["pid"]))
        except TimeoutError as error:
            raise WarmError(f"warm interpreter {self.packages} did not fork") from error
        CHILDREN.add(child)
        try:
            try:
                reply, timed_out = self._receive(time.monotonic() + timeout), False
            except TimeoutError:
                kill_group(child)
                timed_out = True
                reply = self._receive(time.monotonic() + REPLY_SECONDS)
        except TimeoutError as error:
            raise WarmError(f"warm interpreter {self.packages} stopped answering") from error
        except BaseException:
            kill_group(child)
            raise
        finally:
            CHILDREN.discard(child)
        return reply.get("returncode"), timed_out

    def close(self) -> None:
        """End the interpreter (it exits when its stdin closes; killed if it lingers)."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            kill_group(self.process)
        CHILDREN.discard(self.process)


class WarmPool:
    """Warm interpreters by (packages, preloaded modules, threads, round, calling thread),
    started on first use.

    One per round of processes (see WarmInterpreter) and per runner thread (run.jobs > 1:
    an interpreter serves one cell at a time). An interpreter that fails is dropped and the
    cell is run in a fresh process instead, so a warm start can never lose a cell.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.interpreters: dict[tuple, WarmInterpreter] = {}
        self.failures: list[str] = []

    def run(self, spec: dict[str, Any], packages: tuple[str, ...], threads: int,
            log_path: Path, timeout: float,
            preload: tuple[str, ...] = ()) -> tuple[int | None, bool] | None:
        """Run the cell in a process forked from a warm interpreter that imported
        ``packages`` (and, best effort, ``preload``); None if none could serve it (the
        caller then starts a fresh process)."""
        key = (packages, preload, threads, int(spec.get("round", 0)), threading.get_ident())
        try:
            interpreter = self._get(key, packages, threads, preload)
            return interpreter.run(spec, log_path, timeout)
        except WarmError as error:
            self.failures.append(str(error))
            self._drop(key)
            return None

    def _get(self, key: tuple, packages: tuple[str, ...], threads: int,
             preload: tuple[str, ...]) -> WarmInterpreter:
        with self.lock:
            interpreter = self.interpreters.get(key)
        if interpreter is None or interpreter.process.poll() is not None:
            interpreter = WarmInterpreter(packages, child_env(threads), preload)
            with self.lock:
                self.interpreters[key] = interpreter
        return interpreter

    def _drop(self, key: tuple) -> None:
        with self.lock:
            interpreter = self.interpreters.pop(key, None)
        if interpreter is not None:
            interpreter.close()

    def close_all(self) -> None:
        """End every warm interpreter (at the end of a run)."""
        with self.lock:
            interpreters, self.interpreters = list(self.interpreters.values()), {}
        for interpreter in interpreters:
            interpreter.close()


WARM = WarmPool()
