"""Arrays lent to a callee without reference counting (`borrow`).

Numba counts references on every array a compiled function receives: one atomic increment when it is entered and
one decrement when it returns, per array argument. A loop that calls its stages once per step with dozens of arrays
pays that on every step: in the exact step loop (`evsim.engine.exact_steps`: four stages, ~90 arrays a step) it was
~7% of feedforward-precise, measured with perf (``NRT_incref`` / ``NRT_decref``). A borrowed array is the same
array (data, shape, strides) with no owner: Numba's reference counting skips it (a null check, no atomic operation).

The rule that makes it safe: a borrowed array is only passed down, to a callee that neither keeps it nor returns it,
while the array it was borrowed from is alive in the caller (borrow it in the call's own argument list, so that the
owner is alive for the whole call). Never return one to Python, store one in a container that outlives the call,
or borrow from an array that a callee may replace.
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _borrow(typingctx: Any, arr: Any) -> Any:  # noqa: ARG001
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        src = context.make_array(arr)(context, builder, value=args[0])
        out = context.make_array(arr)(context, builder)
        cgutils.copy_struct(out, src)
        out.meminfo = cgutils.get_null_value(out.meminfo.type)  # no owner: reference counting skips it
        out.parent = cgutils.get_null_value(out.parent.type)
        return out._getvalue()

    return arr(arr), codegen


borrow: Any = intrinsic(_borrow)  # (typed Any: mypy cannot see through Numba's intrinsic)
