"""The functional API (JAX's names and contracts) on top of both modes.

``grad``, ``value_and_grad``, ``vjp`` and ``jacrev`` run reverse mode; ``jvp`` and ``jacfwd``
run forward mode; ``hessian`` is ``jacfwd(jacrev(f))``. Each call wraps its inputs one
level deeper than whatever surrounds it, so transformations nest (``grad(grad(f))``) and
values closed over from an outer transformation are constants of the inner one.

Inputs may be Python floats or NumPy arrays (float32 stays float32, a float gets a float);
``argnums`` may be an int or a tuple of ints (then the result is a tuple). Outputs (and
``aux``) may be pytrees: nested tuples, lists and dicts of values (see :mod:`bobodiff.tree`).
A Jacobian of a tuple ``argnums`` is nested as in JAX: ``result[output leaf][argnum]``.

Every transform records its own graph whatever the ambient ``no_grad()`` (which governs the
user's Tensors only), and no array it returns shares memory with an argument of the call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._state import new_level
from .forward import Basis, Dual
from .reverse import Tensor, backprop
from .rules import shape_of
from .tree import check_leaves, flatten, same_structure, tree_map, unflatten

__all__ = ["grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "hessian"]


def _argnums(argnums: int | Sequence[int], nargs: int) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"argnums={argnums!r} is out of range for a call with {nargs} "
                             "positional argument(s)")
    return tuple(i % nargs for i in nums), single


def _as_input(x: Any, what: str) -> Any:
    """Check that ``x`` can be differentiated with respect to; ints become floats."""
    if type(x) is int or type(x) is bool:
        return float(x)
    if isinstance(x, np.ndarray):
        if x.dtype.kind != "f":
            return x.astype(np.float64)
        return x
    if isinstance(x, float | np.floating):
        return x
    if getattr(x, "_is_bobodiff_wrapper", False):
        as_float = getattr(x, "_as_float_input", None)  # a jit Tracer: records the cast
        return x if as_float is None else as_float()
    if isinstance(x, list | tuple):
        return np.asarray(x, dtype=np.float64)
    raise TypeError(f"{what}: cannot differentiate with respect to a {type(x).__name__}; "
                    "pass a float or a NumPy array")


def _zeros_like(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return np.zeros_like(x)
    if getattr(x, "_is_bobodiff_wrapper", False):
        return 0.0 * x
    return 0.0


def _reverse_pass(f: Callable, args: tuple, nums: tuple[int, ...], name: str):
    """Run ``f`` on tensors one level deeper; return (output tensor or value, inputs, level)."""
    args = list(args)
    with new_level() as level:
        inputs = []
        for i in nums:
            t = Tensor(_as_input(args[i], name))
            t._level = level
            inputs.append(t)
            args[i] = t
        out = f(*args)
    return out, inputs, level


def _output_of_level(out: Any, level: int) -> bool:
    return type(out) is Tensor and out._level == level


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """``f`` -> a function returning ``(f(*args), gradient of f w.r.t. args[argnums])``.

    ``f`` must return a scalar. With ``has_aux=True`` (as in JAX), ``f`` returns a pair
    ``(scalar, aux)``: the gradient is the scalar's, and the result is
    ``((scalar, aux), gradient)`` with aux's values, not differentiated (a per-point value
    beside the gradient of its sum, for instance).
    """

    def value_and_grad_f(*args: Any) -> tuple[Any, Any]:
        nums, single = _argnums(argnums, len(args))
        out, inputs, level = _reverse_pass(f, args, nums, "grad")
        if has_aux:
            if not (isinstance(out, tuple | list) and len(out) == 2):
                raise TypeError("grad(has_aux=True) requires f to return a pair "
                                f"(scalar, aux), but it returned {type(out).__name__}"
                                + (f" of {len(out)}" if isinstance(out, tuple | list) else ""))
            out, aux = out
            aux = _values_at(aux, level)
        if isinstance(out, tuple | list | dict):
            raise TypeError(f"grad needs a scalar output, but f returned a "
                            f"{type(out).__name__} of {len(out)}; use jacrev or vjp")
        if type(out) is not Tensor:
            check_leaves([out], "grad")
        depends = _output_of_level(out, level)
        value = out.data if depends else out
        if shape_of(value) != ():  # also a constant array: f's output is what matters
            raise TypeError(f"grad needs a scalar output, but f returned shape "
                            f"{shape_of(value)}; use jacrev for vector outputs")
        if not depends:  # f does not depend on its inputs
            grads = [_zeros_like(t.data) for t in inputs]
        else:
            found = backprop(out, _unit(value), targets=inputs)
            grads = [found.get(id(t), _zeros_like(t.data)) for t in inputs]
        value, *grads = _unaliased([value, *(_match(g, t.data) for g, t in zip(grads, inputs))],
                                   args)
        if has_aux:
            value = (value, aux)
        return value, grads[0] if single else tuple(grads)

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    value_and_grad_f.__wrapped__ = f  # type: ignore[attr-defined]  # keeps f's argument names
    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f`` -> a function returning the gradient of scalar ``f`` w.r.t. ``args[argnums]``
    (``(gradient, aux)`` with ``has_aux=True``, see :func:`value_and_grad`)."""
    vg = value_and_grad(f, argnums, has_aux)

    def grad_f(*args: Any) -> Any:
        value, g = vg(*args)
        return (g, value[1]) if has_aux else g

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    grad_f.__wrapped__ = f  # type: ignore[attr-defined]
    return grad_f


def _values_at(x: Any, level: int) -> Any:
    """``x`` (a value, or a pytree of them) with this level's Tensors replaced by their
    values."""
    return tree_map(lambda v: v.data if _output_of_level(v, level) else v, x)


def _unaliased(results: list[Any], *sources: Sequence[Any]) -> list[Any]:
    """``results`` with each array that may share memory with an array among ``sources`` (the
    caller's arguments) or with an earlier result replaced by a copy: the caller may write
    into what a transform returns. An array that shares nothing is returned as it is."""
    for r in results:
        if type(r) is np.ndarray:
            break
    else:  # floats: nothing can alias
        return results
    arrays = [a for group in sources for a in group if type(a) is np.ndarray]
    fresh = []
    for r in results:
        if type(r) is np.ndarray:
            if any(_may_share(r, a) for a in arrays):
                r = r.copy()
            arrays.append(r)
        fresh.append(r)
    return fresh


def _may_share(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays may share memory: a view and what it views share their owner;
    arrays of two different owners do not (that is cheaper than np.may_share_memory)."""
    ra, rb = _owner(a), _owner(b)
    if ra is rb:
        return True
    if type(ra) is np.ndarray and type(rb) is np.ndarray and ra.flags.owndata and rb.flags.owndata:
        return False
    return bool(np.may_share_memory(a, b))  # memory of another object (a buffer, a mmap)


def _owner(a: np.ndarray) -> Any:
    base = a.base
    while base is not None:
        a = base
        base = getattr(a, "base", None) if type(a) is np.ndarray else None
    return a


def _unit(value: Any) -> Any:
    """A seed of 1 with the kind, shape and dtype of ``value``."""
    if isinstance(value, np.ndarray):
        return np.ones_like(value)
    if isinstance(value, np.floating):
        return type(value)(1.0)
    if getattr(value, "_is_bobodiff_wrapper", False) and value.dtype != np.float64:
        return np.ones(value.shape, dtype=value.dtype)
    return 1.0


def _match(g: Any, like: Any) -> Any:
    """Give a gradient the shape and kind of its input (float for float, array for array)."""
    if isinstance(like, np.ndarray) and not getattr(g, "_is_bobodiff_wrapper", False):
        g = np.asarray(g, dtype=like.dtype)
        if g.shape != like.shape:
            g = np.broadcast_to(g, like.shape).copy()
        return g
    if type(like) is float:
        return float(g) if isinstance(g, np.ndarray | np.floating) and g.ndim == 0 else g
    like_of = getattr(like, "_gradient_like", None)  # a jit Tracer
    return g if like_of is None else like_of(g)


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` returns one gradient per primal.

    When ``f`` returns a pytree (tuple, list, dict), the cotangent is a pytree of the same
    structure.
    """
    out, inputs, level = _reverse_pass(f, primals, tuple(range(len(primals))), "vjp")
    outs, out_def = flatten(out)
    check_leaves(outs, "vjp")
    values = _unaliased([o.data if _output_of_level(o, level) else o for o in outs], primals)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        cts, ct_def = flatten(cotangent)
        if not same_structure(ct_def, out_def):
            raise ValueError(f"vjp: f returned {len(outs)} output(s) structured as "
                             f"{out_def!r}; pass cotangents of that structure (a tuple of "
                             f"{len(outs)} cotangents for a tuple), not {ct_def!r}")
        grads: dict[int, Any] = {}
        for o, value, ct in zip(outs, values, cts):
            if shape_of(ct) != shape_of(value):
                raise ValueError(f"vjp: cotangent has shape {shape_of(ct)} but the output "
                                 f"has shape {shape_of(value)}")
            if not _output_of_level(o, level):
                continue  # this output does not depend on the inputs
            found = backprop(o, ct, retain_graph=True, targets=inputs)
            for k, g in found.items():
                grads[k] = g if k not in grads else grads[k] + g
        found = [_match(grads.get(id(t), _zeros_like(t.data)), t.data) for t in inputs]
        return tuple(_unaliased(found, primals, cts))

    return unflatten(out_def, values), vjp_fn


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(f(*primals), J @ tangents)``: one forward-mode pass."""
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    with new_level() as level:
        duals = []
        for p, t in zip(primals, tangents):
            p = _as_input(p, "jvp")
            t = _as_input(t, "jvp")
            if shape_of(p) != shape_of(t):
                raise ValueError(f"jvp: primal of shape {shape_of(p)} has a tangent of shape "
                                 f"{shape_of(t)}")
            duals.append(Dual._make(p, t, level))
        out = f(*duals)
    outs, out_def = flatten(out)
    check_leaves(outs, "jvp")
    both = _unaliased([part for o in outs for part in _split_dual(o, level, ())], primals,
                      tangents)  # value 0, tangent 0, value 1, ...
    return unflatten(out_def, both[0::2]), unflatten(out_def, both[1::2])


def _split_dual(out: Any, level: int, batch: tuple[int, ...]) -> tuple[Any, Any]:
    """Value and tangent of one output ``out`` at ``level`` (zero tangent when ``out`` is a
    constant)."""
    if type(out) is Dual and out._level == level:
        value, tangent = out.value, out.tangent  # .tangent writes a Basis / Scaled out
    else:
        value, tangent = out, 0.0
    full = batch + shape_of(value)
    if shape_of(tangent) != full and not getattr(tangent, "_is_bobodiff_wrapper", False):
        dtype = _float_dtype(value)
        tangent = np.broadcast_to(np.asarray(tangent, dtype=dtype), full).copy()
        if full == ():
            tangent = float(tangent)
    return value, tangent


def _float_dtype(x: Any) -> Any:
    """The floating dtype of a value (float64 for Python floats and integers)."""
    dtype = x.dtype if hasattr(x, "dtype") else np.result_type(x)
    return np.result_type(dtype, np.float32) if dtype.kind == "f" else np.dtype(np.float64)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``f`` -> its Jacobian by forward mode, shape ``out.shape + in.shape``.

    All directions travel in one pass, as a leading axis of the tangents. With a pytree
    output, each leaf gets its Jacobian; with a tuple ``argnums``, each leaf's Jacobian is a
    tuple over the argnums (``result[output][argnum]``, as JAX).
    """

    def jacfwd_f(*args: Any) -> Any:
        nums, single = _argnums(argnums, len(args))
        per_arg = [_jacfwd_one(f, args, i) for i in nums]  # (leaves, structure) per argnum
        out_def = per_arg[0][1]
        leaves = [_unaliased(jacs, args) for jacs, _ in per_arg]
        if single:
            return unflatten(out_def, leaves[0])
        return unflatten(out_def, [tuple(by_arg) for by_arg in zip(*leaves)])

    jacfwd_f.__name__ = f"jacfwd({getattr(f, '__name__', 'f')})"
    return jacfwd_f


def _jacfwd_one(f: Callable, args: tuple, i: int) -> Any:
    args = list(args)
    x = _as_input(args[i], "jacfwd")
    in_shape = shape_of(x)
    size = int(np.prod(in_shape))
    with new_level() as level:
        if in_shape == ():
            args[i] = Dual._make(x, 1.0, level)
            batch: tuple[int, ...] = ()
        elif len(in_shape) == 1:  # the identity, left symbolic (see Basis)
            args[i] = Dual._make(x, Basis(size, _float_dtype(x)), level)
            batch = (size,)
        else:
            dtype = _float_dtype(x)
            basis = np.eye(size, dtype=dtype).reshape((size,) + in_shape)
            args[i] = Dual._make(x, basis, level)
            batch = (size,)
        out = f(*args)
    outs, out_def = flatten(out)
    check_leaves(outs, "jacfwd")
    jacs = [_to_jacobian(o, level, batch, in_shape) for o in outs]
    if not batch:  # a float input: the derivative of a scalar output is a float too
        jacs = [_match(j, x) if shape_of(j) == () else j for j in jacs]
    return jacs, out_def


def _to_jacobian(out: Any, level: int, batch: tuple[int, ...], in_shape: tuple) -> Any:
    _, tangent = _split_dual(out, level, batch)
    if not batch:
        return tangent
    out_shape = shape_of(tangent)[1:]
    nd = len(out_shape)
    # (size, *out) -> (*out, size) -> (*out, *in)
    moved = tangent.transpose(tuple(range(1, nd + 1)) + (0,))
    jac = moved.reshape(out_shape + in_shape)
    # a read-only tangent is a view of an operand (W @ x gives W itself): hand out a copy
    return jac if getattr(jac, "flags", None) is None or jac.flags.writeable else jac.copy()


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``f`` -> its Jacobian by reverse mode (one backward pass per output element).

    Nested as :func:`jacfwd`: ``result[output][argnum]`` for a tuple ``argnums``.
    """

    def jacrev_f(*args: Any) -> Any:
        nums, single = _argnums(argnums, len(args))

        def f_of_selected(*selected: Any) -> Any:
            full = list(args)
            for i, s in zip(nums, selected):
                full[i] = s
            return f(*full)

        value, vjp_fn = vjp(f_of_selected, *(args[i] for i in nums))
        values, out_def = flatten(value)
        zeros = [_zeros_like(v) for v in values]

        def component(j: int) -> Any:  # the Jacobians of output leaf j
            def vjp_j(ct: Any) -> tuple[Any, ...]:
                return vjp_fn(unflatten(out_def, zeros[:j] + [ct] + zeros[j + 1:]))
            jac = tuple(_unaliased(list(_jacobian_rows(values[j], vjp_j, len(nums))), args))
            return jac[0] if single else jac

        return unflatten(out_def, [component(j) for j in range(len(values))])

    jacrev_f.__name__ = f"jacrev({getattr(f, '__name__', 'f')})"
    return jacrev_f


def _jacobian_rows(value: Any, vjp_fn: Callable, n_inputs: int) -> tuple[Any, ...]:
    """Jacobians of one output w.r.t. each input, one backward pass per output element."""
    out_shape = shape_of(value)
    if out_shape == ():
        return vjp_fn(_unit(value))
    if getattr(value, "_is_bobodiff_wrapper", False):
        raise TypeError("jacrev of a non-scalar function inside another transformation is "
                        "not supported; use jacfwd instead")
    dtype = np.result_type(value, 1.0)
    rows = []
    for k in range(int(np.prod(out_shape))):
        seed = np.zeros(out_shape, dtype=dtype)
        seed.flat[k] = 1.0
        rows.append(vjp_fn(seed))
    return tuple(
        np.stack([np.asarray(r[j]) for r in rows]).reshape(out_shape + shape_of(rows[0][j]))
        for j in range(n_inputs)
    )


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``f`` -> its Hessian, ``jacfwd(jacrev(f))`` (forward-over-reverse).

    With a tuple ``argnums``, ``H[i][j]`` is the block of second derivatives with respect to
    ``args[argnums[i]]`` and ``args[argnums[j]]``, of shape ``x_i.shape + x_j.shape``.
    """
    return jacfwd(jacrev(f, argnums), argnums)
