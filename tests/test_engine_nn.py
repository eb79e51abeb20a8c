"""bobodiff.nn: the report's networks, gradients vs torch with the same weights."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from engine_helpers import assert_close

import bobodiff as bd
from bobodiff.nn import MLP, ScalarMLP
from bobodiff.rules import ELEMENTWISE

ACT = ["sigmoid", "tanh"]


def torch_mlp_grads(model, x, target, activation):
    """Replay the MLP in torch with the same weights; gradients of the squared error."""
    torch = pytest.importorskip("torch")
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}[activation]
    params = [torch.tensor(p.data, dtype=torch.float64, requires_grad=True)
              for p in model.parameters()]
    h = torch.tensor(x, dtype=torch.float64)
    n_layers = len(params) // 2
    for i in range(n_layers):
        w, b = params[2 * i], params[2 * i + 1]
        h = h @ w.T + b
        if i < n_layers - 1:
            h = act(h)
    loss = ((h - torch.tensor(target)) ** 2).sum()
    loss.backward()
    return loss.item(), [p.grad.numpy() for p in params]


@pytest.mark.parametrize("activation", ACT)
@pytest.mark.parametrize("batch", [None, 5])
def test_mlp_gradients_match_torch(activation, batch):
    n = 4
    rng = np.random.default_rng(1)
    model = MLP([n, n, 1], activation, rng=7)
    x = rng.standard_normal((n,) if batch is None else (batch, n))
    target = rng.standard_normal((1,) if batch is None else (batch, 1))
    out = model(bd.Tensor(x, requires_grad=False))
    loss = ((out - target) ** 2).sum()
    loss.backward()
    expected_loss, expected = torch_mlp_grads(model, x, target, activation)
    assert loss.data == pytest.approx(expected_loss, rel=1e-12)
    params = model.parameters()
    assert len(params) == 4
    for i, (p, g) in enumerate(zip(params, expected)):
        assert p.grad is not None and p.grad.shape == p.data.shape
        assert_close(p.grad, g, rtol=1e-11, atol=1e-13, what=f"parameter {i}")
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_mlp_gradients_match_torch_deeper_and_float32():
    model = MLP([3, 5, 4, 2], "tanh", rng=3, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    out = model(x)
    assert out.data.dtype == np.float32
    (out * out).sum().backward()
    for p in model.parameters():
        assert p.grad.dtype == np.float32
    model64 = MLP([3, 5, 4, 2], "tanh", rng=3)
    out64 = model64(x.astype(np.float64))
    (out64 * out64).sum().backward()
    for p32, p64 in zip(model.parameters(), model64.parameters()):
        assert_close(p32.grad, p64.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ACT)
def test_scalar_mlp_matches_vectorized_mlp(activation):
    n = 3
    vec = MLP([n, n, 1], activation, rng=11)
    sca = ScalarMLP([n, n, 1], activation, rng=11)
    x = np.random.default_rng(2).standard_normal(n)
    # Same seed, same weights
    vec_params = [p.data for p in vec.parameters()]
    sca_weights = [np.array([[w.data for w in row] for row in layer.weight])
                   for layer in sca.layers]
    sca_biases = [np.array([b.data for b in layer.bias]) for layer in sca.layers]
    for i, layer in enumerate(sca.layers):
        assert_close(sca_weights[i], vec_params[2 * i], rtol=0, atol=0)
        assert_close(sca_biases[i], vec_params[2 * i + 1], rtol=0, atol=0)
        assert all(type(w.data) is float for row in layer.weight for w in row)

    out_v = vec(x)
    ((out_v - 0.5) ** 2).sum().backward()
    (out_s,) = sca(list(map(float, x)))
    loss_s = (out_s - 0.5) ** 2
    loss_s.backward()
    assert type(loss_s.data) is float
    assert loss_s.data == pytest.approx(float(((out_v.data - 0.5) ** 2).sum()), rel=1e-13)
    for i, layer in enumerate(sca.layers):
        gw = np.array([[w.grad for w in row] for row in layer.weight])
        gb = np.array([b.grad for b in layer.bias])
        assert_close(gw, vec.parameters()[2 * i].grad, rtol=1e-12, atol=1e-14)
        assert_close(gb, vec.parameters()[2 * i + 1].grad, rtol=1e-12, atol=1e-14)


def test_mlp_rejects_unknown_activation_and_short_sizes():
    with pytest.raises(ValueError, match="relu6"):
        MLP([2, 2, 1], "relu6")
    with pytest.raises(ValueError):
        MLP([2])


@pytest.mark.slow
def test_scalar_graph_network_at_n_300_keeps_the_recursion_limit():
    import sys

    n = 300  # ~180,000 scalar nodes; each neuron's sum is a chain n nodes deep
    limit = sys.getrecursionlimit()
    sca = ScalarMLP([n, n, 1], "sigmoid", rng=5)
    vec = MLP([n, n, 1], "sigmoid", rng=5)
    x = np.random.default_rng(3).standard_normal(n) * 0.1
    (out_s,) = sca(list(map(float, x)))
    out_s.backward()
    vec(x).sum().backward()
    assert sys.getrecursionlimit() == limit
    first = sca.layers[0]
    gw = np.array([[w.grad for w in row] for row in first.weight])
    assert_close(gw, vec.parameters()[0].grad, rtol=1e-10, atol=1e-14)


def test_the_default_activation_is_the_one_entry_marked_so_and_stays_sigmoid():
    assert [n for n, r in ELEMENTWISE.items() if r.default_activation] == ["sigmoid"]
    for cls in (MLP, ScalarMLP):
        assert inspect.signature(cls).parameters["activation"].default == "sigmoid"
    assert MLP([2, 3, 1]).layers[0].activation == "sigmoid"
