"""When an engine may write into an array instead of allocating a new one.

Writing a product or a sum into an array that no one else holds saves an allocation (and
its page faults) per operation on large arrays. CPython's reference count says who holds
it. From 3.14 CPython may borrow stack references instead of counting them, so the count is
trusted on CPython 3.11-3.13 only; elsewhere the engines always allocate.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

BY_REFCOUNT = sys.implementation.name == "cpython" and (3, 11) <= sys.version_info < (3, 14)


def writable_alone(a: Any, holders: int) -> bool:
    """True when ``a`` is an ndarray owning its writable memory, held by exactly ``holders``
    references that the caller knows of (its own names for it, the caller's caller's, a
    slot or dict entry...), so that writing into it changes nothing anyone else can see."""
    # + 2: this function's parameter and getrefcount's own argument
    return (BY_REFCOUNT and type(a) is np.ndarray and sys.getrefcount(a) == holders + 2
            and a.base is None and a.flags.writeable)
