"""Per-operand read sets: reverse mode checks a leaf's array for writes made between the
forward pass and backward only when a derivative that backward computes reads it."""

import numpy as np
import pytest

import bobodiff as bd
from bobodiff.rules import ELEMENTWISE, MINUS_ONE, NUMPY, ONE, RULES

RNG = np.random.default_rng(7)


def _plain(d, shape):
    d = 1.0 if d is ONE else (-1.0 if d is MINUS_ONE else d)
    return np.broadcast_to(np.asarray(d, dtype=float), shape)


def _read_by(rule):
    return rule.read_by or ((False, False), (False, False))  # None: reads no operand


def _operands(rule):
    # positive, away from 0 and 1, distinct: inside every rule's domain
    return [RNG.uniform(1.2, 1.8, (2, 3)) for _ in range(rule.arity)]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_a_derivative_said_not_to_read_an_operand_is_the_same_at_other_values_of_it(name):
    """The traced read sets against the rules themselves: change one operand (the output
    held fixed, as backward holds the node's saved output) and every derivative said not to
    read it must not change; at least one said to read it must."""
    rule = ELEMENTWISE[name]
    read_by = _read_by(rule)
    args = _operands(rule)
    out = getattr(NUMPY, name)(*args)
    for k in range(rule.arity):
        changed = []
        for shifted in (args[k] + 0.37, -args[k]):  # -x: for sign and step (abs, relu)
            moved = list(args)
            moved[k] = shifted
            for j, partial in enumerate(rule.partials):
                before = _plain(partial(NUMPY, *args, out), out.shape)
                with np.errstate(all="ignore"):
                    after = _plain(partial(NUMPY, *moved, out), out.shape)
                if not read_by[k][j]:
                    np.testing.assert_array_equal(before, after, err_msg=f"{name} d{j}/x{k}")
                changed.append(not np.array_equal(before, after, equal_nan=False))
        if any(read_by[k]):
            assert any(changed), f"{name}: said to read operand {k}, but no derivative does"


def test_read_sets_of_the_common_primitives():
    assert RULES["mul"].read_by == ((False, True), (True, False))  # x' reads y, y' reads x
    assert RULES["matmul"].read_by == ((False, True), (True, False))
    assert RULES["exp"].read_by is None  # exp' is the output
    assert RULES["sin"].read_by[0] == (True, False)
    assert RULES["transpose"].read_by is None  # a view reads nothing itself


def test_a_write_into_a_leaf_whose_derivatives_read_only_the_output_is_not_an_error():
    W = bd.Tensor(np.array([0.5, 1.0, 1.5]))
    y = (bd.exp(W) + bd.tanh(W) + bd.sqrt(W)).sum()
    expected = np.exp(W.data) + 1 - np.tanh(W.data) ** 2 + 0.5 / np.sqrt(W.data)
    W.data[1] = 100.0
    y.backward()
    np.testing.assert_allclose(W.grad, expected)
    assert getattr(W, "_stamp", None) is None


def test_a_leaf_multiplied_by_a_constant_is_not_read_and_the_constant_is_not_checked():
    W = bd.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    c = np.array([[2.0, -1.0], [0.5, 3.0]])
    y = (W * c).sum()
    W.data[0, 0] = -7.0
    y.backward()
    np.testing.assert_allclose(W.grad, c)


def test_a_view_of_a_leaf_multiplied_by_a_constant_matrix_takes_no_fingerprint():
    """E2's first layer: X @ W1.T with X constant. W1's gradient reads X, never W1."""
    X = RNG.normal(size=(4, 3))
    W = bd.Tensor(RNG.normal(size=(5, 3)))
    y = (X @ W.T).sum()
    assert getattr(W, "_stamp", None) is None
    W.data[0, 0] = 100.0
    y.backward()
    np.testing.assert_allclose(W.grad, np.ones((5, 4)) @ X)


def test_a_view_read_by_a_later_operation_checks_the_leaf_it_views():
    W = bd.Tensor(RNG.normal(size=(3, 2)))
    v = bd.Tensor(RNG.normal(size=(3,)))
    y = (v @ W.reshape(3, 2)[:, ::-1]).sum()  # v's gradient reads W, through two views
    W.data[2, 1] = 9.0
    with pytest.raises(RuntimeError, match=r"leaf Tensor of shape \(3, 2\).*modified in place"):
        y.backward()
    # and v's array, which W's derivative reads: a write into it raises too
    W2, v2 = bd.Tensor(RNG.normal(size=(3, 2))), bd.Tensor(RNG.normal(size=(3,)))
    y2 = (v2 @ W2.T.T).sum()
    v2.data[0] = 5.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y2.backward()
