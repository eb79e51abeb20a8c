"""bobodiff.jit: compiled programs give the same values and derivatives as the engines."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bobodiff as bd
from bobodiff.core import apply
from bobodiff.jit import TracerControlFlowError
from bobodiff.rules import ELEMENTWISE, STRUCTURAL


def _inputs_for(domain: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    if domain == "positive":
        return rng.uniform(0.3, 2.0, shape)
    if domain == "tan":
        return rng.uniform(-1.0, 1.0, shape)
    # "real", "nonzero", "away_from_kinks": keep away from 0 and from each other
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)


def _same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)), (
        type(a), type(b))
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("kind", ["float", "array"])
def test_every_elementwise_rule_compiles_to_the_same_value_and_gradient(name, kind):
    rule = ELEMENTWISE[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)

    def f(*xs):
        out = apply(rule, xs)
        return out.sum() if kind == "array" else out

    shape = (4,) if kind == "array" else ()
    xs = [_inputs_for(rule.domain, rng, shape) for _ in range(rule.arity)]
    if name == "maximum":  # keep the two arguments apart
        xs[1] = xs[0] + np.where(rng.random(shape) < 0.5, -0.5, 0.5)
    if kind == "float":
        xs = [float(x) for x in xs]
    argnums = tuple(range(rule.arity))
    plain = bd.value_and_grad(f, argnums)
    fast = bd.jit(plain)
    _same(fast(*xs), plain(*xs))
    _same(fast(*xs), plain(*xs))  # second call: the cached program


_STRUCTURAL_CASES = {
    "sum": (lambda x: (x.sum(axis=0) * np.arange(1.0, 4.0)).sum(), [(2, 3)]),
    "reshape": (lambda x: (bd.sin(x.reshape(3, 2)) * np.arange(6.0).reshape(3, 2)).sum(),
                [(2, 3)]),
    "transpose": (lambda x: (x.T @ np.arange(2.0)).sum(), [(2, 3)]),
    "getitem": (lambda x: (x[1] * x[0, 2]).sum(), [(2, 3)]),
    "scatter": (lambda x: (bd.cos(x[:, 1:]) ** 2.0).sum(), [(2, 3)]),
    "matmul": (lambda a, b: bd.tanh(a @ b).sum(), [(2, 3), (3,)]),
}


def test_every_structural_rule_has_a_jit_case():
    assert set(STRUCTURAL) <= set(_STRUCTURAL_CASES)


@pytest.mark.parametrize("name", sorted(_STRUCTURAL_CASES))
def test_structural_rules_compile_to_the_same_value_and_gradient(name):
    f, shapes = _STRUCTURAL_CASES[name]
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=s) for s in shapes]
    argnums = tuple(range(len(xs)))
    plain = bd.value_and_grad(f, argnums)
    _same(bd.jit(plain)(*xs), plain(*xs))


def e1(x1, x2, x3):
    return (x1 * bd.sin(x2) + bd.log((x3**2 + 1) ** 2) + bd.exp(x1 * x3)) * bd.cos(x2)


def e1_gradient(x1, x2, x3):
    """Hand-derived gradient of the report's benchmark function."""
    s, c, e, q = math.sin(x2), math.cos(x2), math.exp(x1 * x3), x3 * x3 + 1.0
    inner = x1 * s + math.log(q * q) + e
    return ((s + x3 * e) * c, x1 * c * c - inner * s, (4.0 * x3 / q + x1 * e) * c)


@settings(max_examples=40, deadline=None)
@given(st.tuples(*[st.floats(-2.0, 2.0)] * 3))
def test_compiled_e1_gradient_matches_the_hand_derived_one(point):
    fast = _E1_FAST
    value, grads = fast(*point)
    assert value == pytest.approx(e1(*point), rel=1e-12, abs=1e-12)
    for got, want in zip(grads, e1_gradient(*point)):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


_E1_FAST = bd.jit(bd.value_and_grad(e1, argnums=(0, 1, 2)))


def test_batched_e1_compiles_and_matches_reverse_mode():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 1000))

    def total(a, b, c):
        return e1(a, b, c).sum()

    plain = bd.value_and_grad(total, (0, 1, 2))
    _same(bd.jit(plain)(*x), plain(*x))


@pytest.mark.parametrize("transform", ["grad", "jvp", "jacfwd", "jacrev", "hessian"])
def test_jit_of_each_transformation_matches_the_transformation(transform):
    def f(x):
        return (bd.sin(x) * x[::-1]).sum() * bd.exp(x[0])

    x = np.array([0.3, -0.7, 1.1])
    if transform == "jvp":
        def g(x):
            return bd.jvp(f, (x,), (np.array([1.0, 2.0, -1.0]),))
    else:
        g = getattr(bd, transform)(f)
    _same(bd.jit(g)(x), g(x))


def test_each_signature_is_traced_once():
    calls = []

    def f(x, y):
        calls.append(1)
        return bd.sum(x * bd.sin(y))

    fast = bd.jit(bd.grad(f, (0, 1)))
    for _ in range(5):
        fast(1.0, 2.0)
    assert len(calls) == 1
    fast(np.ones(3), np.ones(3))
    fast(np.zeros(3), np.ones(3))
    assert len(calls) == 2
    fast(np.ones(4), np.ones(4))  # a new shape: a new trace
    assert len(calls) == 3
    fast(np.ones(4, np.float32), np.ones(4, np.float32))  # a new dtype too
    assert len(calls) == 4


def test_float32_is_kept():
    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    value, g = bd.jit(bd.value_and_grad(lambda x: bd.tanh(x).sum()))(x)
    assert g.dtype == np.float32


MIXED_DTYPES = {
    "a float64 constant": lambda x, w: bd.sum(x * np.linspace(1.0, 2.0, 3)),
    "a float64 argument": lambda x, w: bd.sum(bd.sin(x) * w),
    "a 0-d float64 argument": lambda x, w: bd.sum(x * x) * w[0],
}


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacrev"])
@pytest.mark.parametrize("case", sorted(MIXED_DTYPES))
def test_a_float32_input_of_a_float64_graph_gets_a_float32_gradient_as_uncompiled(transform,
                                                                                 case):
    # the uncompiled transforms give a leaf's gradient its dtype (as torch); the compiled
    # program gave float64 for the float32 input
    x = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    w = np.array([1.5, 0.25, -3.0])
    g = getattr(bd, transform)(MIXED_DTYPES[case], (0, 1))
    expected, got = g(x, w), bd.jit(g)(x, w)
    _same(got, expected)
    grads = expected[1] if transform == "value_and_grad" else expected
    assert grads[0].dtype == np.float32 and grads[1].dtype == np.float64


@pytest.mark.parametrize("x", [np.array([1, -2, 3]), np.array([True, False]), np.array(1.5),
                               np.array(-0.5, np.float32), np.array([[2]], np.int32)],
                         ids=["int64", "bool", "0-d", "0-d float32", "int32 (1, 1)"])
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacrev", "jacfwd", "hessian",
                                       "jvp"])
def test_an_integer_or_0d_array_input_gives_what_the_uncompiled_transform_gives(x, transform):
    # a transformation differentiates an integer array as float64: the compiled program
    # gave int64 [3, -6, 9] for the gradient of sum(x * x * 1.5) and int64 values and
    # tangents for jvp(x * x); a 0-d array's gradient is a 0-d array, the compiled program
    # gave a NumPy scalar
    if transform == "jvp":
        def g(x):
            return bd.jvp(lambda x: x * x, (x,), (x,))
    else:
        g = getattr(bd, transform)(lambda x: bd.sum(x * x * 1.5))
    _same(bd.jit(g)(x), g(x))


def test_value_dependent_control_flow_raises_at_trace_time():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(TracerControlFlowError, match="jit"):
        bd.jit(f)(1.0)
    with pytest.raises(TracerControlFlowError, match="float"):
        bd.jit(lambda x: float(x) * 2.0)(1.0)


def test_static_arguments_are_baked_in_and_part_of_the_signature():
    def power(x, n):
        out = x
        for _ in range(n - 1):
            out = out * x
        return out

    fast = bd.jit(bd.grad(power))
    assert fast(2.0, 3) == pytest.approx(12.0)
    assert fast(2.0, 4) == pytest.approx(32.0)


def test_source_is_readable_straight_line_code():
    src = _E1_FAST.source(0.1, 0.2, 0.3)
    assert src.startswith("def ")
    assert "(x1, x2, x3)" in src  # the function's own argument names
    assert "sin(x2)" in src and "cos(x2)" in src
    assert "for " not in src and "if " not in src
    assert src.count("sin(x2)") == 1  # common subexpressions are shared


def test_math_domain_errors_follow_numpy_like_the_uncompiled_function():
    f = bd.value_and_grad(lambda x: bd.log(x) * 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value, g = bd.jit(f)(-1.0)
        want_value, want_g = f(-1.0)
    assert math.isnan(value) and math.isnan(want_value)
    assert g == want_g


def test_jit_inside_another_transformation_runs_the_python_function():
    inner = bd.jit(lambda x: bd.sin(x) * x)
    assert bd.grad(inner)(0.5) == pytest.approx(math.cos(0.5) * 0.5 + math.sin(0.5))


def test_unsupported_argument_types_are_named():
    with pytest.raises(TypeError, match="dict"):
        bd.jit(lambda x: x)({"a": 1.0})


# -- large arrays: the chunked program ------------------------------------------------------

_JIT = __import__("sys").modules["bobodiff.jit"]  # the module (bd.jit is the function)
_BIG = _JIT.CHUNK_MIN + 1234  # above the threshold and not a multiple of the chunk size


def _e1_value_and_partials(x1, x2, x3):
    """What the harness times on E1-batch: f and its vjp with a ones cotangent."""
    out, pullback = bd.vjp(e1, x1, x2, x3)
    return (out, *pullback(out * 0.0 + 1.0))


def _assert_close(got, want, rtol):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_close(g, w, rtol)
        return
    assert np.shape(got) == np.shape(want)
    assert np.result_type(got) == np.result_type(want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def _e1_inputs(n, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, n).astype(dtype) for _ in range(3)]


@pytest.mark.parametrize("n", [_BIG, 4 * _JIT.CHUNK_MIN])  # with and without a last part
def test_chunked_vjp_matches_the_uncompiled_function(n):
    xs = _e1_inputs(n)
    fast = bd.jit(_e1_value_and_partials)
    assert "def chunk(" in fast.source(*xs)
    _same(fast(*xs), _e1_value_and_partials(*xs))


def test_chunked_value_and_grad_accumulates_the_sum():
    def total(a, b, c):
        return e1(a, b, c).sum()

    xs = _e1_inputs(_BIG, seed=1)
    plain = bd.value_and_grad(total, (0, 1, 2))
    fast = bd.jit(plain)
    assert "__parts" in fast.source(*xs)
    _same(fast(*xs), plain(*xs))
    _same(fast(*xs), plain(*xs))  # the compiled program, reused


def test_chunked_float32_stays_float32():
    def total(a, b, c):
        return e1(a, b, c).sum()

    xs = _e1_inputs(_BIG, np.float32, seed=2)
    plain = bd.value_and_grad(total, (0, 1, 2))
    fast = bd.jit(plain)
    assert "np.float32" in fast.source(*xs) and "np.float64" not in fast.source(*xs)
    value, grads = fast(*xs)
    want_value, want_grads = plain(*xs)
    assert all(g.dtype == np.float32 for g in grads)
    _assert_close(value, want_value, 1e-4)
    _assert_close(grads, want_grads, 1e-5)
    out = bd.jit(_e1_value_and_partials)(*xs)
    _assert_close(out, _e1_value_and_partials(*xs), 1e-5)


def test_chunked_two_dimensional_inputs_scalars_and_every_elementwise_rule():
    rng = np.random.default_rng(3)
    shape = (7, _BIG // 7)
    x = rng.uniform(0.3, 2.0, shape)
    y = x[:, ::-1] + rng.uniform(-0.2, 0.2, shape)  # not C-contiguous after the flip
    w = np.array([1.5])  # a size-1 array broadcast against every element

    def f(x, y, s):
        terms = [apply(rule, (x, y)[:rule.arity]) for rule in ELEMENTWISE.values()]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return (total * s * w).reshape(-1).sum() + bd.sigmoid(x * s).mean()

    plain = bd.value_and_grad(f, (0, 1))  # (the gradient for s comes back as a 0-d array)
    fast = bd.jit(plain)
    assert "def chunk(" in fast.source(x, y, 0.7)
    _same(fast(x, y, 0.7), plain(x, y, 0.7))


def test_chunked_gradient_of_a_sum_scaled_by_a_traced_float():
    x = np.random.default_rng(7).uniform(-1.0, 1.0, _BIG)

    def f(x, s):
        return (bd.tanh(x) * s).sum()

    plain = bd.grad(f)  # its gradient is (ones broadcast by the sum) * s * tanh'
    fast = bd.jit(plain)
    assert "def chunk(" in fast.source(x, 0.3)
    _same(fast(x, 0.3), plain(x, 0.3))
    _same(bd.jit(bd.grad(lambda x, s: (x * s).sum()))(x, 0.3), np.full(_BIG, 0.3))


def test_programs_that_index_or_mix_sizes_are_not_chunked_and_stay_right():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1.0, 1.0, _BIG)
    cases = {
        "reversal": (lambda x: (bd.sin(x) * x[::-1]).sum(), (x,)),
        "partial sum": (lambda x: (bd.exp(x.reshape(2, -1)).sum(axis=0) ** 2.0).sum(),
                        (x[:_BIG // 2 * 2],)),
        "two sizes": (lambda x, y: (bd.sin(x).sum() * bd.cos(y)).sum(), (x, x[:-1])),
    }
    for name, (f, args) in cases.items():
        plain = bd.value_and_grad(f, tuple(range(len(args))))
        fast = bd.jit(plain)
        assert "def chunk(" not in fast.source(*args), name
        _same(fast(*args), plain(*args))


def test_a_sum_needed_inside_the_loop_is_not_chunked():
    x = np.random.default_rng(5).uniform(0.5, 1.5, _BIG)

    def normalized(x):  # every element needs the total first: two passes
        return (bd.log(x / x.sum()) * x).sum()

    plain = bd.value_and_grad(normalized)
    fast = bd.jit(plain)
    assert "def chunk(" not in fast.source(x)
    _same(fast(x), plain(x))


def test_small_arrays_are_computed_whole():
    xs = _e1_inputs(1000)
    assert "def chunk(" not in bd.jit(_e1_value_and_partials).source(*xs)


def test_tracing_large_arrays_allocates_no_full_size_temporaries():
    import tracemalloc

    n = 2**20
    xs = _e1_inputs(n, seed=6)
    fast = bd.jit(_e1_value_and_partials)
    tracemalloc.start()
    try:
        out = fast(*xs)  # trace, compile and run
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(out) == 4
    # The four outputs (4 x 8 MiB) plus chunk buffers; a whole-array trace keeps ~30 arrays.
    assert peak < 6 * n * 8, peak / (n * 8)


def test_inlined_float_expressions_keep_the_order_of_operations_exactly():
    def f(a, b, c):
        terms = [a - (b - c), (a - b) - c, a / (b * c), (a / b) * c, -(a * b), (-a) ** 2.0,
                 a ** (b - c), (a + b) ** c, -(a - b), bd.sin(a - b) / (c + a * b)]
        total = terms[0]
        for t in terms[1:]:
            total = total * 0.5 + t
        return total

    plain = bd.value_and_grad(f, (0, 1, 2))
    fast = bd.jit(plain)
    for point in [(0.1, 0.7, 1.3), (1e8, 1.0, 1e-8), (0.3, 1e-9, 2.5)]:
        assert fast(*point) == plain(*point)  # the same operations: bit for bit
    src = fast.source(0.1, 0.7, 1.3)
    assert src.count("\n") < 40  # values used once are written into their user


def test_dispatch_sends_other_argument_kinds_to_their_own_programs():
    fast = bd.jit(bd.grad(lambda x, y: bd.sum(x * bd.sin(y)), (0, 1)))
    assert fast(2.0, 0.5) == pytest.approx((math.sin(0.5), 2.0 * math.cos(0.5)))
    g = fast(np.full(3, 2.0), np.full(3, 0.5))
    np.testing.assert_allclose(g[0], np.sin(0.5))
    assert fast(2.0, 0.5) == pytest.approx((math.sin(0.5), 2.0 * math.cos(0.5)))
    with pytest.raises(TypeError):
        fast(2.0)  # the uncompiled function's own error for a missing argument


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_chunked_results_do_not_depend_on_the_threads(threads, monkeypatch):
    def total(a, b, c):
        return e1(a, b, c).sum()

    xs = _e1_inputs(40 * _JIT.CHUNK + 17, seed=8)  # enough chunks for every thread
    fast = bd.jit(bd.value_and_grad(total, (0, 1, 2)))
    monkeypatch.setattr(_JIT, "THREADS", 1)
    want = fast(*xs)
    monkeypatch.setattr(_JIT, "THREADS", threads)
    got = fast(*xs)
    assert got[0] == want[0]  # the per-chunk partial sums are added in the same order
    for g, w in zip(got[1], want[1]):
        np.testing.assert_array_equal(g, w)


def test_thread_count_follows_the_environment(monkeypatch):
    monkeypatch.setattr(_JIT, "THREADS", None)
    monkeypatch.setenv("BOBODIFF_THREADS", "1")
    assert _JIT.thread_count() == 1
    monkeypatch.setattr(_JIT, "THREADS", 3)
    assert _JIT.thread_count() == 3


def test_errstate_reaches_the_chunk_threads(monkeypatch):
    monkeypatch.setattr(_JIT, "THREADS", 2)
    x = np.ones(40 * _JIT.CHUNK)
    x[-5:] = -1.0  # only the second thread meets a log of a negative number
    fast = bd.jit(lambda x: bd.log(x) * 2.0)
    fast(np.ones_like(x))  # compiles
    ((program, _),) = fast.jitted._compiled.values()  # not the fallback to the uncompiled
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        program(x)
    with np.errstate(invalid="ignore"):
        assert np.isnan(program(x)[-5:]).all()


def test_ghost_values_raise_no_floating_point_errors_while_tracing():
    x = np.full(_BIG, 0.5)
    x[0] = 1000.0  # the ghost (x[0] everywhere) sums to ~3e7: exp of it overflows

    def f(x):
        return bd.exp(x.sum() * 1e-3) * bd.sin(x)  # the real sum: exp(~18) is fine

    with np.errstate(all="raise"):
        got = bd.jit(f)(x)
    _same(got, f(x))


def test_argument_names_that_the_chunked_program_uses_itself_are_renamed():
    def f(i, lo, hi, run):
        return (bd.sin(i) * lo + bd.cos(hi) * run).sum()

    rng = np.random.default_rng(9)
    xs = [rng.uniform(-1.0, 1.0, _BIG) for _ in range(3)] + [0.5]
    plain = bd.value_and_grad(f, (0, 1, 2))
    fast = bd.jit(plain)
    assert "def chunk(" in fast.source(*xs)
    _same(fast(*xs), plain(*xs))


def test_chunked_program_source_does_not_depend_on_the_hash_seed():
    """The chunk emitter hands buffers out in a fixed order: the same program in every
    process (it used to follow a set's iteration order, which PYTHONHASHSEED changes)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import numpy as np, bobodiff as bd\n"
        "def f(a, b, c):\n"
        "    return bd.sum((a * bd.sin(b) + bd.log((c**2 + 1)**2) + bd.exp(a * c)) * bd.cos(b))\n"
        "x = np.linspace(0.5, 1.5, 100_000)\n"
        "print(bd.jit(bd.value_and_grad(f, argnums=(0, 1, 2))).source(x, x + 1, x + 2))\n")
    root = Path(__file__).resolve().parents[1]
    sources = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, cwd=root,
                              env={**os.environ, "PYTHONHASHSEED": str(seed),
                                   "PYTHONPATH": str(root)}).stdout
               for seed in range(1, 7)}
    assert len(sources) == 1
