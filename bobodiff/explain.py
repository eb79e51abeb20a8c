"""``explain(f, *xs)``: the report's section 2.3 for any function of floats.

It records the evaluation trace of ``f`` at ``xs`` with the jit's tracer (one equation per
primitive: v_i = op(v_j, ...)), then shows the three views of automatic differentiation side
by side, with numbers:

* the primal trace: each v_i, its definition and its value;
* forward mode: each tangent v̇_i = Σ_j ∂v_i/∂v_j · v̇_j, along every input direction;
* reverse mode: each adjoint v̄_j = Σ_i v̄_i · ∂v_i/∂v_j, for every output.

The local partials ∂v_i/∂v_j come from the rule table itself (one forward-mode pass through
the primitive), so what is printed is what the engines compute. Inputs are numbered as in
the report (Griewank's notation): with two inputs, v_{-1} = x1 and v_0 = x2.

    >>> print(bd.explain(lambda x1, x2: x1**2 * x2 + bd.cos(x2), 1.0, 2.0))
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._state import new_level
from .core import apply, compute
from .functional import jvp
from .jit import _INFIX, Tracer

__all__ = ["explain", "Explanation", "Step"]


@dataclass
class Step:
    """One v_i of the trace: how it is defined, its value, its tangents and its adjoints."""

    name: str
    definition: str
    value: float
    #: (operand name, ∂v_i/∂operand) for every traced operand; empty for an input.
    partials: list[tuple[str, float]] = field(default_factory=list)
    #: v̇_i along each input direction, in input order.
    tangents: list[float] = field(default_factory=list)
    #: v̄_i = ∂y/∂v_i for each output y, in output order.
    adjoints: list[float] = field(default_factory=list)


@dataclass
class Explanation:
    """The trace of one call with its tangents and adjoints; ``str()`` gives the tables
    (plain text, or Markdown when made with ``format="md"``)."""

    inputs: list[str]
    outputs: list[str]  # the step each output is, in order
    steps: list[Step]
    format: str = "text"

    def step(self, name: str) -> Step:
        """The step called ``name`` (``"v-1"``, ``"v0"``, ``"v1"``, ...)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"explain: no step named {name!r}; steps are "
                       f"{', '.join(s.name for s in self.steps)}")

    def __str__(self) -> str:
        return self.markdown() if self.format == "md" else self.text()

    def text(self) -> str:
        """The three tables as aligned plain text."""
        return "\n\n".join(_render_text(title, header, rows)
                           for title, header, rows in self._tables())

    def markdown(self) -> str:
        """The three tables in Markdown."""
        return "\n\n".join(_render_markdown(title, header, rows)
                           for title, header, rows in self._tables())

    def _tables(self) -> list[tuple[str, list[str], list[list[str]]]]:
        by_output = ", ".join(f"{y} = {o}"
                              for y, o in zip(_output_labels(self.outputs), self.outputs))
        primal = [[s.name, s.definition, _number(s.value)] for s in self.steps]
        forward = [[_dot(s.name), _sum(s.partials, _dot) or "seed", *map(_number, s.tangents)]
                   for s in self.steps]
        consumers = _consumers(self.steps)
        reverse = [[_bar(s.name), _reverse_sum(s.name, consumers, s.name in self.outputs),
                    *map(_number, s.adjoints)] for s in reversed(self.steps)]
        return [
            (f"Evaluation trace ({by_output})", ["v", "definition", "value"], primal),
            ("Forward mode: tangents, v̇i = Σ ∂vi/∂vj · v̇j",
             ["tangent", "rule", *(f"along {x}" for x in self.inputs)], forward),
            ("Reverse mode: adjoints, v̄j = Σ v̄i · ∂vi/∂vj",
             ["adjoint", "rule", *(f"∂{y}/∂v" for y in _output_labels(self.outputs))],
             reverse),
        ]


def explain(f: Callable[..., Any], *xs: float, format: str = "text") -> Explanation:
    """The evaluation trace of ``f`` at the floats ``xs``, with forward tangents along every
    input and reverse adjoints of every output: the report's section 2.3 for any function.

    ``f`` returns a float or a tuple/list of floats, built from bobodiff operations.
    ``format`` is ``"text"`` or ``"md"`` (what ``str()`` of the result gives).
    """
    if format not in ("text", "md"):
        raise ValueError(f"explain: format must be 'text' or 'md', not {format!r}")
    for i, x in enumerate(xs):
        if type(x) not in (float, int) or isinstance(x, bool):
            raise TypeError(f"explain: argument {i} is a {type(x).__name__}; explain shows "
                            "the trace of a function of floats (one v_i per number)")
    xs = tuple(float(x) for x in xs)
    labels = _argument_names(f, len(xs))
    recording = _Recording(len(xs))
    with new_level() as level:
        traced = [recording.input(x, label, level) for x, label in zip(xs, labels)]
        out = f(*traced)
    outputs = out if isinstance(out, tuple | list) else (out,)
    output_names = [recording.output(y, level) for y in outputs]
    steps = recording.steps
    _forward(steps, len(xs))
    _reverse(steps, output_names)
    return Explanation(labels, output_names, steps, format)


class _Recording:
    """The trace object behind jit's Tracer: it keeps every equation with its operands as
    data (names of traced values, or the constants themselves)."""

    def __init__(self, n_inputs: int) -> None:
        self.steps: list[Step] = []
        self.by_name: dict[str, Step] = {}
        self._next_input = 1 - n_inputs  # v_{1-n} ... v_0, as in the report
        self._next = 1

    def _add(self, step: Step) -> None:
        self.steps.append(step)
        self.by_name[step.name] = step

    def input(self, x: float, label: str, level: int) -> Tracer:
        name = f"v{self._next_input}"
        self._add(Step(name, label, x))
        self._next_input += 1
        return Tracer(x, name, self, level)

    def output(self, y: Any, level: int) -> str:
        if type(y) is Tracer and y._level == level:
            return y.name
        if type(y) in (float, int):  # an output that does not depend on the inputs
            name = f"v{self._next}"
            self._next += 1
            self._add(Step(name, "constant", float(y)))
            return name
        raise TypeError(f"explain: the function returned a {type(y).__name__}; return a "
                        "float or a tuple of floats built from bobodiff operations")

    def record(self, rule: Any, args: tuple, params: dict, level: int) -> Tracer:
        """Called by Tracer for each primitive applied to traced values."""
        values = tuple(a.value if _traced(a, level) else a for a in args)
        value = compute(rule, values, params)
        if not isinstance(value, float):
            raise TypeError(f"explain: {rule.name} gave a {type(value).__name__}; explain "
                            "shows functions of floats (one v_i per number)")
        name = f"v{self._next}"
        self._next += 1
        operands = [a.name if _traced(a, level) else _number(a) for a in args]
        step = Step(name, _definition(rule.name, operands, params), value)
        for position, a in enumerate(args):
            if _traced(a, level):
                step.partials.append((a.name, _local_partial(rule, values, params, position)))
        self._add(step)
        return Tracer(value, name, self, level)


def _traced(a: Any, level: int) -> bool:
    return type(a) is Tracer and a._level == level


def _local_partial(rule: Any, values: tuple, params: dict, position: int) -> float:
    """∂ rule(values) / ∂ values[position], from the rule table (one forward pass)."""

    def along(z: Any) -> Any:
        return apply(rule, values[:position] + (z,) + values[position + 1:], params)

    return float(jvp(along, (values[position],), (1.0,))[1])


def _forward(steps: list[Step], n_inputs: int) -> None:
    tangent: dict[str, list[float]] = {}
    for k, s in enumerate(steps[:n_inputs]):
        s.tangents = [1.0 if j == k else 0.0 for j in range(n_inputs)]
        tangent[s.name] = s.tangents
    for s in steps[n_inputs:]:
        s.tangents = [sum(d * tangent[j][k] for j, d in s.partials) for k in range(n_inputs)]
        tangent[s.name] = s.tangents


def _reverse(steps: list[Step], outputs: list[str]) -> None:
    adjoint = {s.name: [0.0] * len(outputs) for s in steps}
    for k, name in enumerate(outputs):
        adjoint[name][k] += 1.0
    for s in reversed(steps):
        s.adjoints = adjoint[s.name]
        for j, d in s.partials:
            for k in range(len(outputs)):
                adjoint[j][k] += s.adjoints[k] * d


def _consumers(steps: list[Step]) -> dict[str, list[tuple[str, float]]]:
    """For each v_j, the (v_i, ∂v_i/∂v_j) of the steps that use it."""
    users: dict[str, list[tuple[str, float]]] = {s.name: [] for s in steps}
    for s in steps:
        for j, d in s.partials:
            users[j].append((s.name, d))
    return users


def _definition(op: str, operands: Sequence[str], params: dict) -> str:
    if op in _INFIX:
        return _INFIX[op].format(*operands)
    arguments = [*operands, *(f"{k}={v!r}" for k, v in params.items())]
    return f"{op}({', '.join(arguments)})"


def _number(x: Any) -> str:
    """A value in full (the shortest repr that reads back the same float)."""
    return repr(x) if type(x) is int else repr(float(x)) if isinstance(x, float) else repr(x)


def _coefficient(d: float) -> str:
    """A local partial inside a sum: short, negatives in parentheses."""
    text = f"{d:.6g}"
    return f"({text})" if d < 0 else text


def _dot(name: str) -> str:
    return f"v̇{name[1:]}"


def _bar(name: str) -> str:
    return f"v̄{name[1:]}"


def _sum(terms: list[tuple[str, float]], mark: Callable[[str], str]) -> str:
    return " + ".join(f"{_coefficient(d)}·{mark(j)}" for j, d in terms)


def _reverse_sum(name: str, consumers: dict[str, list[tuple[str, float]]],
                 is_output: bool) -> str:
    terms = ["seed"] * is_output + [f"{_bar(i)}·{_coefficient(d)}" for i, d in consumers[name]]
    return " + ".join(terms) or "0 (unused)"


def _output_labels(outputs: list[str]) -> list[str]:
    return ["y"] if len(outputs) == 1 else [f"y{k + 1}" for k in range(len(outputs))]


def _argument_names(f: Callable[..., Any], n: int) -> list[str]:
    try:
        names = [p.name for p in inspect.signature(f).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n]
    except (TypeError, ValueError):
        names = []
    return names + [f"x{i + 1}" for i in range(len(names), n)]


def _width(text: str) -> int:
    """Columns on a terminal: combining marks (the dot of v̇, the bar of v̄) take none."""
    return sum(not unicodedata.combining(ch) for ch in text)


def _render_text(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(_width(r[c]) for r in [header, *rows]) for c in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([title, line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def _render_markdown(title: str, header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([f"**{title}**", "", line(header), line(["---"] * len(header)),
                      *map(line, rows)])
