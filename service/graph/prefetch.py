"""A software prefetch for compiled loops: ask for a node's cache line a few gates before it is used.

The one-assignment backward pass reads and writes nodes scattered over the whole graph; out-of-order
execution alone overlaps only as many of those misses as fit in the core's window. Measured on this
machine (2026-12-02, 10^6 wide binary gates of bench_core, backward alone, two runs): 13.7 and 14.3 ns
a gate with values and gradients in separate arrays and no prefetch, 6.6 and 9.1 with each node's
value beside its gradient and a prefetch 32 gates ahead. The forward pass, whose loads wait on no
store, gained too little from one (6.7 against 6.5) to keep it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I8P = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)
_PREFETCH = ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32])


@intrinsic
def prefetch_for_write(typingctx, array, index):  # pragma: no cover - compiled
    """A hint (never a fault, even out of bounds) that ``array.flat[index]`` will soon be read and written."""
    if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), _I8P)
        function = cgutils.get_or_insert_function(builder.module, _PREFETCH, "llvm.prefetch.p0i8")
        # read-write 1, locality 3 (keep in every cache level), data cache 1
        builder.call(function, [address, _I32(1), _I32(3), _I32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen
