"""bobodiff: automatic differentiation in pure Python + NumPy.

* Forward mode: :class:`Dual` (alias ``AutoDiff``), :func:`variable`, :func:`variables`,
  :func:`constant`, :class:`Directions`, :class:`Basis`.
* Reverse mode: :class:`Tensor`, ``.backward()``, :func:`no_grad`, :func:`gc_paused`.
* Functional API: :func:`grad`, :func:`value_and_grad`, :func:`jvp`, :func:`vjp`,
  :func:`jacfwd`, :func:`jacrev`, :func:`hessian`.
* :func:`explain`: the evaluation trace of a call with its tangents and adjoints.
* Math: :func:`sin`, :func:`cos`, ... accept floats, arrays, Duals and Tensors.
* The derivative rules of every primitive: :data:`bobodiff.rules.RULES`.
"""

from . import nn, rules
from .explain import explain
from .forward import AutoDiff, Basis, Directions, Dual, constant, variable, variables
from .functional import grad, hessian, jacfwd, jacrev, jvp, value_and_grad, vjp
from .functions import (
    abs,
    cos,
    exp,
    expm1,
    log,
    log1p,
    matmul,
    maximum,
    mean,
    relu,
    reshape,
    sigmoid,
    sin,
    softplus,
    sqrt,
    sum,
    tan,
    tanh,
    transpose,
)
from .jit import jit
from .reverse import Tensor, enable_grad, gc_paused, is_grad_enabled, no_grad

__version__ = "0.1.0"

__all__ = [
    "AutoDiff", "Basis", "Directions", "Dual", "Tensor", "abs", "constant", "cos",
    "enable_grad", "exp", "explain", "expm1", "gc_paused", "grad", "hessian", "is_grad_enabled",
    "jacfwd", "jit", "jacrev", "jvp", "log", "log1p", "matmul", "maximum", "mean", "nn",
    "no_grad", "relu", "reshape", "rules", "sigmoid", "sin", "softplus", "sqrt", "sum", "tan",
    "tanh", "transpose", "value_and_grad", "variable", "variables", "vjp",
]
