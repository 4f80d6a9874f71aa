"""A cache prefetch hint for the loops (`prefetch`)."""

from __future__ import annotations

from typing import Any

from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _prefetch(typingctx: Any, arr: Any, idx: Any) -> Any:  # noqa: ARG001
    """Ask the CPU to bring the cache line of ``arr[idx]`` in (LLVM's ``llvm.prefetch``: read, high locality): a
    hint, no effect on any value, harmless for an index past the end (a prefetch never faults)."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        a, i = args
        ary = context.make_array(signature.args[0])(context, builder, a)
        i = context.cast(builder, i, signature.args[1], types.int64)
        ptr = builder.gep(ary.data, [i])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


prefetch: Any = intrinsic(_prefetch)  # (typed Any: mypy cannot see through Numba's intrinsic)
