"""Socket receive-memory accounting: charging a received skb and uncharging it.

Mirrors include/net/sock.h: skb_set_owner_r(), sk_mem_charge(), __sk_rmem_schedule(),
sk_mem_uncharge(), sk_mem_reclaim(), sk_unused_reserved_mem(); net/core/sock.c: sock_rfree(),
__sk_mem_schedule(), __sk_mem_reclaim(); net/core/skbuff.c: sock_rmem_free(); v6.18.

Theory of operation. ``sk_rmem_alloc`` counts the truesize of every skb charged to the socket
(atomic: the error queue charges it without the socket lock). ``sk_forward_alloc`` is memory
reserved from the protocol's page pool but not yet used; a charge that does not fit reserves whole
pages first, and every uncharge (since 4890b686f408, v6.0) gives back whole pages above the
unused SO_RESERVE_MEM part as soon as there is at least one. Pages move through this CPU's
``per_cpu_fw_alloc`` (see core.per_cpu_fw_alloc_add).

Before f278b6d5bb46 (``Config.rmem_atomic`` False: 0de2a5c4b824, in the v6.15 merge window
only) TCP's own charge and uncharge were plain updates under the socket lock, tcp_skb_set_owner_r()
and tcp_sock_rfree(); the error queue's charge stayed atomic and lock-free, so it could be lost
in between (spec/close.py: tcp_eat_recv_skb() and rfree_write()).

Simplifications: the protocol's memory pressure limits never refuse a charge (the workload is
small); ``sk_wmem_queued`` is 0 (no send side); ``sk_rcvbuf`` never drops a packet. Of
0de2a5c4b824's plain updates only recvmsg()'s and close-new's uncharge (tcp_eat_recv_skb()) is
two steps: the charge in NAPI poll and close-old's destructor stay one step each (the same lost
update, another window).
"""

from __future__ import annotations

from spec import core, rules
from spec.core import Draft


def sk_rmem_schedule_and_charge(state: Draft, sk: int, cpu: int, truesize: int) -> Draft:
    """Make room (reserve pages on ``cpu`` if the forward allocation is short), then
    skb_set_owner_r()'s accounting: ``sk_rmem_alloc += truesize``, ``sk_forward_alloc -= truesize``."""
    sock = state.sockets[sk]
    pages = rules.schedule_pages(sock.sk_forward_alloc, truesize, state.config.page_size)
    fwd = sock.sk_forward_alloc
    if pages:
        fwd += pages * state.config.page_size
        state = core.per_cpu_fw_alloc_add(state, cpu, pages)
    return core.set_sock(state, sk, sk_rmem_alloc=sock.sk_rmem_alloc + truesize, sk_forward_alloc=fwd - truesize)


def sock_rfree(state: Draft, sk: int, cpu: int, truesize: int) -> Draft:
    """sock_rfree() run on ``cpu``: atomic ``sk_rmem_alloc -= truesize``, then sk_mem_uncharge():
    ``sk_forward_alloc += truesize`` and reclaim whole pages above the unused reserve."""
    sock = state.sockets[sk]
    rmem = sock.sk_rmem_alloc - truesize
    fwd = sock.sk_forward_alloc + truesize
    unused = rules.unused_reserved_mem(sock.sk_reserved_mem, 0, rmem)
    pages = rules.reclaim_pages(fwd, unused, state.config.page_size)
    if pages:
        fwd -= pages * state.config.page_size
        state = core.per_cpu_fw_alloc_add(state, cpu, -pages)
    return core.set_sock(state, sk, sk_rmem_alloc=rmem, sk_forward_alloc=fwd)


def sock_rmem_free(state: Draft, sk: int, truesize: int) -> Draft:
    """sock_rmem_free(), the error-queue destructor: only the atomic ``sk_rmem_alloc`` drops."""
    sock = state.sockets[sk]
    return core.set_sock(state, sk, sk_rmem_alloc=sock.sk_rmem_alloc - truesize)


def sk_mem_reclaim_final(state: Draft, sk: int, cpu: int) -> Draft:
    """sk_mem_reclaim_final() (include/net/sock.h, v6.18): forget the SO_RESERVE_MEM reservation,
    then give back every whole page of ``sk_forward_alloc`` (on ``cpu``)."""
    sock = state.sockets[sk]
    pages = rules.reclaim_pages(sock.sk_forward_alloc, 0, state.config.page_size)
    if pages:
        state = core.per_cpu_fw_alloc_add(state, cpu, -pages)
    fwd = sock.sk_forward_alloc - pages * state.config.page_size
    return core.set_sock(state, sk, sk_reserved_mem=0, sk_forward_alloc=fwd)
