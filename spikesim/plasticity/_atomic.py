"""An atomic counter for Numba code: threads take the next work item from a shared array.

The batched trainer hands trials (and chunks of edges) to its threads one at a time, so a
thread that is slowed down (another process on its core, a trial with more spikes) holds
up no other thread: the others take the remaining items. Numba has no atomic operation on
the CPU, so :func:`fetch_add` emits LLVM's ``atomicrmw add`` itself.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["fetch_add"]


@intrinsic
def fetch_add(typingctx, counter, index):
    """``counter[index] += 1`` atomically (sequentially consistent); returns the old value.

    Parameters
    ----------
    counter : ndarray of int64, shape (n,), C-contiguous
        Shared counters.
    index : int
        Which counter.
    """
    if not (
        isinstance(counter, types.Array)
        and counter.dtype == types.int64
        and counter.ndim == 1
        and isinstance(index, types.Integer)
    ):
        return None
    sig = types.int64(counter, index)

    def codegen(context, builder, signature, args):
        arr_ty, idx_ty = signature.args
        arr = context.make_array(arr_ty)(context, builder, args[0])
        idx = context.cast(builder, args[1], idx_ty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, arr_ty, arr, [idx])
        one = context.get_constant(types.int64, 1)
        return builder.atomic_rmw("add", ptr, one, "seq_cst")

    return sig, codegen
