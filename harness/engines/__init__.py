"""Engine registry: one adapter per engine; each builds timed workloads for experiments.

An adapter declares which (experiment, workload) pairs it implements, why others are not
meaningful, which packages it needs and what it can do (``capabilities``: the transforms an
experiment written once against an array namespace asks for, see ``ArrayAPI``; FUNCTIONAL
when it lends its library's namespace of functional transforms, found by their names). Heavy
imports (torch, bobodiff) happen inside the builders, in the cell's own subprocess, never
when the registry is read.

Engines are plug-ins: every one, built-in or not, is an entry point of the group
``bobodiff_harness.engines`` whose object is an ``Engine`` (see ``discover``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TEST_ENGINES_ENV = "BOBODIFF_HARNESS_TEST_ENGINES"


def to_numpy_list(result: Any) -> list[np.ndarray]:
    """Default result conversion: a sequence of array-likes -> list of float64 arrays."""
    return [np.asarray(item, dtype=np.float64) for item in result]


@dataclass
class Workload:
    """What a cell times: ``run()`` is one operation; ``fetch(result)`` gives NumPy arrays."""

    run: Callable[[], Any]
    fetch: Callable[[Any], list[np.ndarray]] = to_numpy_list
    description: str = ""


Builder = Callable[[dict[str, Any], dict[str, Any]], Workload]

ENTRY_POINT_GROUP = "bobodiff_harness.engines"
# The built-in engines, as pyproject.toml registers them under ENTRY_POINT_GROUP. Read only
# for names the installed metadata does not list: a source checkout run without
# `pip install -e .`, or installed before an engine was added (the metadata is written at
# install time), still finds every built-in engine.
BUILTIN_ENTRY_POINTS = {
    "floor": "harness.engines.floor:ENGINE",
    "torch": "harness.engines.torch_engine:ENGINE",
    "bobodiff-forward": "harness.engines.bobodiff_forward:ENGINE",
    "bobodiff-reverse": "harness.engines.bobodiff_reverse:ENGINE",
    "bobodiff-scalar": "harness.engines.bobodiff_scalar:ENGINE",
    "bobodiff-compiled": "harness.engines.bobodiff_compiled:ENGINE",
    "jax": "harness.engines.peers:JAX",
    "autograd": "harness.engines.peers:AUTOGRAD",
    "micrograd": "harness.engines.peers:MICROGRAD",
}
# The capability of the hand-written floor: it runs an experiment's own floor workload.
FLOOR = "floor"
# The capability of an engine whose ArrayAPI lends ``func``: its library's namespace of
# functional transforms, each found by its conventional (JAX) name.
FUNCTIONAL = "functional"


@dataclass
class ArrayAPI:
    """What an engine lends a workload written once: its array namespace (``ns.sin``, ...),
    conversions to and from NumPy, its adapter-written transforms by capability name, and
    its library's own functional transforms (``func``, capability FUNCTIONAL).

    Adapter-written transforms (each experiment says which it needs, each engine which it
    has): ``value_and_grad(g, *example)`` -> ``(*leaves) -> (out, aux, grads)`` for g
    returning (scalar out, aux), the gradient of out with respect to every leaf (``leaf(x)``
    makes a differentiable input of an engine array or a Python float); ``example`` are
    arguments like the leaves, for an engine that compiles ahead (the callable's ``note``,
    if any, then says how long that took: never inside a timed call);
    ``elementwise_grad(f, *example)`` -> ``(*leaves) -> (out, grads)`` for f elementwise
    over N points: each point's value and the gradient of its value with respect to its own
    inputs (the gradient of sum(f), or a vectorized map of the gradient).

    ``func`` is the library's namespace of functional transforms (``bobodiff``,
    ``torch.func``, ``jax``, ``autograd``), each found by its conventional name with JAX's
    contract (``func.grad(f)``, ``func.jvp(f, primals, tangents)``, ...): an experiment asks
    for any transform by name, and checks with ``hasattr`` for one a library may lack
    (autograd has no ``jvp``). ``compile(f)`` is f compiled as the library compiles a
    function (``jax.jit``; f itself where it runs eagerly), and ``sync(result)`` returns the
    result once its work is done (JAX's ``block_until_ready``: a timed call that ends with
    it includes the work, not only its dispatch). ``describe`` and ``compiled`` name them in
    a workload's description.
    """

    ns: Any
    asarray: Callable[[Any], Any]
    to_numpy: Callable[[Any], np.ndarray]
    transforms: dict[str, Callable[..., Any]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # how each transform is done
    # functional engines differentiate their arguments as they are: x itself
    leaf: Callable[[Any], Any] = field(default_factory=lambda: _itself)
    to_float: Callable[[Any], float] = float
    func: Any = None
    func_name: str = ""  # how descriptions name func ("bd"); default: its module's name
    compile: Callable[[Callable[..., Any]], Callable[..., Any]] = field(
        default_factory=lambda: _itself)
    compile_name: str = ""  # how descriptions name compile ("jit"); "" for the identity
    sync: Callable[[Any], Any] = field(default_factory=lambda: _itself)

    def describe(self, transform: str) -> str:
        """How a description names ``func``'s ``transform``: "torch.func.grad", "bd.jvp"."""
        return f"{self.func_name or getattr(self.func, '__name__', 'func')}.{transform}"

    def compiled(self, what: str) -> str:
        """How a description names ``what`` passed through ``compile``: "jit(jax.grad)"."""
        return f"{self.compile_name}({what})" if self.compile_name else what


def _itself(x: Any) -> Any:
    return x


def backward_elementwise_grad(f: Callable[..., Any], *example: Any) -> Callable[..., tuple]:
    """``elementwise_grad`` by backward() of the sum of f (torch, bobodiff's Tensor)."""
    def call(*leaves: Any) -> tuple[Any, list[Any]]:
        out = f(*leaves)
        out.sum().backward()
        return out, [leaf.grad for leaf in leaves]
    return call


def backward_value_and_grad(g: Callable[..., tuple[Any, Any]], *example: Any
                            ) -> Callable[..., tuple]:
    """``value_and_grad`` of an engine whose leaves record a graph and whose output has
    ``backward()`` filling each leaf's ``.grad`` (torch, bobodiff's Tensor)."""
    def call(*leaves: Any) -> tuple[Any, Any, list[Any]]:
        out, aux = g(*leaves)
        out.backward()
        return out, aux, [leaf.grad for leaf in leaves]
    return call


@dataclass
class Engine:
    """An engine adapter: name, required packages, builders and reasons for skips.

    ``capabilities`` name what the engine can do (transforms of ``ArrayAPI``, FUNCTIONAL for
    its ``func`` namespace, modes such as
    "forward-mode", "reverse-mode", "scalar-graph", "compiled"): experiments and the report
    select engines by capability, never by name. ``family`` is the library measured
    ("bobodiff", "torch", ...). ``api`` builds the engine's ArrayAPI in the cell's process.
    """

    name: str
    description: str
    requires: tuple[str, ...] = ()
    builders: dict[tuple[str, str], Builder] = field(default_factory=dict)
    not_meaningful: dict[tuple[str, str], str] = field(default_factory=dict)
    availability: Callable[[], str | None] | None = None
    # (experiment, variant, size) -> why this engine cannot run a cell that large, or None
    size_limit: Callable[[str, str, int], str | None] | None = None
    capabilities: frozenset[str] = frozenset()
    family: str = ""
    distribution: str = ""  # the installed distribution whose version is the engine's
    api: Callable[[dict[str, Any]], ArrayAPI] | None = None

    def unavailable_reason(self) -> str | None:
        """Return a one-line reason when the engine cannot run here, else None."""
        for package in self.requires:
            if importlib.util.find_spec(package) is None:
                return f"{package} is not installed (pip install {package} to include it)"
        return self.availability() if self.availability else None

    def version(self) -> str:
        """'name version' of the distribution measured, '-' when unknown or absent."""
        name = self.distribution or (self.requires[0] if self.requires else "")
        if not name:
            return "-"
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            return "-"

    def skip_reason(self, experiment: str, workload: str) -> str | None:
        """Return why this engine does not run (experiment, workload), or None."""
        for key in ((experiment, workload), (experiment, "*")):
            if key in self.not_meaningful:
                return self.not_meaningful[key]
        if (experiment, workload) in self.builders:
            return None
        need = _written_once(experiment).get(workload)
        if need is None:
            return f"{self.name} has no {experiment}/{workload} workload"
        if FLOOR in self.capabilities or (need in self.capabilities and self.api):
            return None
        return f"{self.name} has no {need} transform (capabilities: " \
            f"{', '.join(sorted(self.capabilities)) or 'none'})"

    def size_reason(self, experiment: str, variant: str, size: int) -> str | None:
        """Return why this engine cannot run (experiment, variant) at ``size``, or None."""
        return self.size_limit(experiment, variant, size) if self.size_limit else None

    def build(self, experiment: str, workload: str, problem: dict[str, Any],
              options: dict[str, Any]) -> Workload:
        """Build the timed workload for one cell (options: dtype, threads): the engine's own
        builder, else the experiment's workload written once on the engine's ArrayAPI (the
        floor: the experiment's hand-written one)."""
        if (experiment, workload) in self.builders:
            return self.builders[(experiment, workload)](problem, options)
        from harness.experiments import registry as experiment_registry

        spec = experiment_registry()[experiment]
        if FLOOR in self.capabilities:
            return spec.floor_workload(workload, problem, options)
        return spec.written_once(workload, self.api(options), problem, options)

    def readings(self) -> list[str]:
        """'experiment/workload' of every reading the engine runs (own or written once)."""
        from harness.experiments import registry as experiment_registry

        own = {f"{e}/{w}" for e, w in self.builders}
        for name, spec in experiment_registry().items():
            own |= {f"{name}/{w}" for w in spec.WRITTEN_ONCE
                    if self.skip_reason(name, w) is None}
        return sorted(own)


def _written_once(experiment: str) -> dict[str, str]:
    """The workloads ``experiment`` writes once, with the capability each needs."""
    from harness.experiments import registry as experiment_registry

    spec = experiment_registry().get(experiment)
    return dict(spec.WRITTEN_ONCE) if spec else {}


def unloadable(name: str, target: str, error: BaseException) -> Engine:
    """A placeholder for an engine whose entry point fails to load: listed, never run."""
    reason = f"its entry point {target} failed to load: {type(error).__name__}: {error}"
    return Engine(name=name, description=f"(plug-in {target})",
                  availability=lambda: reason.splitlines()[0])


def _entry_points() -> Iterable[tuple[str, str, Callable[[], Any]]]:
    """(name, target, load) of every installed entry point of ENTRY_POINT_GROUP."""
    for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        yield point.name, point.value, point.load


def _load_target(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@functools.cache
def discover() -> list[Engine]:
    """Every engine of ENTRY_POINT_GROUP, built-ins first (BUILTIN_ENTRY_POINTS fills in the
    names the installed metadata lacks); a plug-in that fails to load or is not an Engine
    is kept as an unavailable engine that says why."""
    found: dict[str, tuple[str, Callable[[], Any]]] = {
        name: (target, lambda target=target: _load_target(target))
        for name, target in BUILTIN_ENTRY_POINTS.items()}
    for name, target, load in _entry_points():
        found.setdefault(name, (target, load))  # a plug-in never shadows a built-in
    engines = []
    for name, (target, load) in found.items():
        try:
            engine = load()
        except Exception as error:  # a broken plug-in must not break the harness
            engines.append(unloadable(name, target, error))
            continue
        if not isinstance(engine, Engine):
            engines.append(unloadable(name, target, TypeError(
                f"{target} is a {type(engine).__name__}, not a harness.engines.Engine")))
        elif engine.name != name:
            engines.append(unloadable(name, target, ValueError(
                f"the entry point is named {name!r} but its Engine is {engine.name!r}")))
        else:
            engines.append(engine)
    return engines


def registry() -> dict[str, Engine]:
    """Return every engine by name; test-only faulty engines when TEST_ENGINES_ENV=1."""
    engines = list(discover())  # a copy: discover's list is cached
    if os.environ.get(TEST_ENGINES_ENV) == "1":
        from harness.engines import faulty

        engines += faulty.ENGINES
    return {engine.name: engine for engine in engines}


def loop_over(points: list[tuple[float, float, float]],
              call: Callable[[float, float, float], tuple], rounds: int) -> list[tuple]:
    """E1-loop body shared by every engine: ``rounds`` passes of one separate call per point;
    the last pass's results are returned (for the correctness check)."""
    out: list[tuple] = []
    for _ in range(rounds):
        out = [call(a, b, c) for a, b, c in points]
    return out


def loop_workload(problem: dict[str, Any], call: Callable[[float, float, float], tuple],
                  description: str) -> Workload:
    """The E1-loop workload of ``call``: one separate call per point of the problem."""
    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop, description)


def fetch_loop(out: list[tuple]) -> list[np.ndarray]:
    """Turn E1-loop results (one (f, d1, d2, d3) tuple per call) into four arrays."""
    return list(np.asarray(out, dtype=np.float64).T)


def points_of(problem: dict[str, Any]) -> list[tuple[float, float, float]]:
    """E1 inputs as a list of Python-float triples (built outside the timed region)."""
    return list(zip(problem["x1"].tolist(), problem["x2"].tolist(), problem["x3"].tolist()))


def cast(problem: dict[str, Any], dtype: str, keys: tuple[str, ...]) -> list[np.ndarray]:
    """Return problem[key] for each key as a contiguous array of ``dtype``."""
    return [np.asarray(problem[key], dtype=dtype, order="C") for key in keys]


def bobodiff_missing(*names: str) -> str | None:
    """Reason bobodiff cannot serve as an engine yet (an API name missing), or None."""
    try:
        import bobodiff
    except ImportError as error:  # pragma: no cover - bobodiff is part of this project
        return f"bobodiff cannot be imported: {error}"
    missing = [name for name in names if not hasattr(bobodiff, name)]
    return f"bobodiff has no {', '.join(missing)} yet" if missing else None
