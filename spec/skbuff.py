"""Building and freeing skbs: the primitives of net/core/skbuff.c the paths share.

Mirrors net/core/skbuff.c: napi_build_skb()/napi_skb_cache_get() (allocation on the RX CPU,
recording ``alloc_cpu``, 68822bdf76f1 v5.19), __kfree_skb(), kfree_skb_napi_cache(),
napi_consume_skb() and napi_skb_cache_put(); v6.18.

Theory of operation. An skb is built on the CPU whose softirq receives the packet, taking a head
from that CPU's NAPI cache when it has one. It is freed in one of three ways: __kfree_skb() runs
the destructor (the socket's uncharge) and returns the memory to the slab on the freeing CPU, a
remote free if another CPU allocated it; kfree_skb_napi_cache() (the "free now" of
skb_attempt_defer_free()) and napi_consume_skb() (the flush) put the head in the freeing CPU's
NAPI cache, except fclones, which take the plain path.

Simplifications: the head and the data are one object (one free); freeing never fails.
"""

from __future__ import annotations

from spec import accounting, core
from spec.core import Draft
from spec.state import Context, Incoming, Skb


def alloc_skb(state: Draft, sk: int, incoming: Incoming, seq: int, end_seq: int, ctx: Context) -> tuple[Draft, int]:
    """Build an skb on ``incoming.cpu`` (taking a cached head if there is one); it is held by
    ``ctx`` until queued. Returns the new state and the skb's id."""
    cpu = incoming.cpu
    cached = state.cpus[cpu].napi_skb_cache
    if cached:
        state = core.set_cpu(state, cpu, napi_skb_cache=cached - 1)
    skb = Skb(
        id=len(state.skbs),
        owner_sk=sk,
        truesize=incoming.truesize,
        seq=seq,
        end_seq=end_seq,
        fin=incoming.fin,
        alloc_cpu=cpu,
        zcopy=incoming.zcopy,
        fclone=incoming.fclone,
        sk=None,
        destructor=None,
        where=("held", ctx[0], ctx[1]),
    )
    state.skbs.append(skb)
    return state, skb.id


def run_destructor(state: Draft, skb_id: int, ctx: Context, cpu: int) -> Draft:
    """skb_release_head_state(): call the destructor on ``cpu``, then forget it."""
    skb = state.skbs[skb_id]
    if skb.destructor is None or skb.sk is None:
        return state
    if skb.destructor == "sock_rfree":
        state = accounting.sock_rfree(state, skb.sk, cpu, skb.truesize)
    else:
        state = accounting.sock_rmem_free(state, skb.sk, skb.truesize)
    return core.touch(state, skb_id, ctx, destructor=None, sk=None)


def kfree_skb(state: Draft, skb_id: int, ctx: Context, cpu: int, how: str) -> Draft:
    """__kfree_skb() on ``cpu``: destructor, then the memory goes straight back to the slab."""
    state = run_destructor(state, skb_id, ctx, cpu)
    return core.free_skb(state, skb_id, ctx, cpu, how, napi=False)


def kfree_skb_napi_cache(state: Draft, skb_id: int, ctx: Context, cpu: int, how: str) -> Draft:
    """kfree_skb_napi_cache() on ``cpu``: fclones take __kfree_skb(), others go to the NAPI cache
    with BH disabled around it (a pending softirq may run at the re-enable; the model lets
    SoftirqStart interleave instead)."""
    if state.skbs[skb_id].fclone:
        return kfree_skb(state, skb_id, ctx, cpu, how)
    state = run_destructor(state, skb_id, ctx, cpu)
    return core.free_skb(state, skb_id, ctx, cpu, how, napi=True)


def napi_consume_skb(state: Draft, skb_id: int, ctx: Context, cpu: int, how: str) -> Draft:
    """napi_consume_skb(skb, budget 1) on ``cpu``, as the flush calls it."""
    return kfree_skb_napi_cache(state, skb_id, ctx, cpu, how)
