"""The one rule both modes use to decide they may write into an array (bobodiff._ownership)."""

import numpy as np
import pytest

import bobodiff as bd
from bobodiff import _ownership
from bobodiff._ownership import writable_alone

pytestmark = pytest.mark.skipif(not _ownership.BY_REFCOUNT,
                                reason="reference counts are trusted on CPython 3.11-3.13 only")


def test_an_array_held_by_one_name_may_be_written_into():
    a = np.ones(10)
    assert writable_alone(a, 1)


def test_a_second_holder_a_view_or_a_read_only_array_may_not():
    a = np.ones(10)
    b = a
    assert not writable_alone(a, 1) and writable_alone(a, 2)
    del b
    assert not writable_alone(a[2:], 1)  # a view: its base holds the memory
    r = np.ones(10)
    r.flags.writeable = False
    assert not writable_alone(r, 1)
    assert not writable_alone(3.0, 1)


def test_backward_writes_products_into_its_own_gradients_not_into_the_users():
    # A large elementwise chain: backward multiplies into its own temporaries (one fewer
    # array per node), and neither the seed nor a leaf's data is ever written into.
    x = np.linspace(0.1, 1.0, 1 << 17)
    keep = x.copy()
    seed = np.full_like(x, 2.0)
    t = bd.Tensor(x)
    y = bd.exp(bd.sin(t) * bd.cos(t)) * 3.0
    y.backward(seed)
    expected = 2.0 * 3.0 * np.exp(np.sin(x) * np.cos(x)) * np.cos(2 * x)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=1e-12)
    assert np.array_equal(x, keep) and np.all(seed == 2.0)
    assert not np.shares_memory(t.grad, seed) and not np.shares_memory(t.grad, x)


def _products_written_in_place(monkeypatch, x):
    calls = []
    multiply = np.multiply

    def counting(*args, **kwargs):
        calls.append("out" in kwargs)
        return multiply(*args, **kwargs)

    monkeypatch.setattr(np, "multiply", counting)
    t = bd.Tensor(x)
    y = (bd.exp(bd.sin(t) * bd.cos(t)) * t) * bd.tanh(t)
    y.backward(np.ones_like(x))
    monkeypatch.setattr(np, "multiply", multiply)
    return sum(calls), t.grad


def test_backward_on_large_arrays_multiplies_into_its_own_temporaries(monkeypatch):
    x = np.linspace(0.1, 1.0, 1 << 17)
    written, g = _products_written_in_place(monkeypatch, x)
    monkeypatch.setattr(_ownership, "BY_REFCOUNT", False)
    never, g_plain = _products_written_in_place(monkeypatch, x)
    assert never == 0 and written >= 3  # one per elementwise node whose gradient is its own
    np.testing.assert_array_equal(g, g_plain)
