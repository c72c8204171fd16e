"""Closing a socket with unread data: __tcp_close()'s purge loop and decision, both free paths.

Mirrors net/ipv4/tcp.c: __tcp_close() and tcp_eat_recv_skb() (v6.18; close-old is the v6.17
loop), tcp_close_state(), tcp_disconnect() (the RST rule of tcp_need_reset()); commits
b13592d20b21 (close-new) and 5f9238530970 (the end_seq unread test), v6.18.

Theory of operation. close() takes the socket lock and marks shutdown; a LISTEN socket skips
the purge. The purge loop looks at the head skb, *first* tests whether it held data the
application never read, then frees it:
- close-old unlinks it and calls __kfree_skb() on the closing CPU: the destructor uncharges the
  socket, and the memory goes back to the slab there (a remote free when another CPU built it);
- close-new calls tcp_eat_recv_skb(): unlink, sock_rfree() directly, clear ``destructor`` and
  ``sk`` (nothing may later uncharge twice or reach a socket that may be gone), and hand the skb
  to skb_attempt_defer_free() (see spec/defer.py). An skb with another destructor takes
  __kfree_skb().
Both do the same socket accounting on the closing CPU and reach the same decision.
The decision, in order: already CLOSE (reset by the peer) -> nothing; repair -> disconnect, no
RST; unread data -> TCPABORTONCLOSE once, CLOSE, RST; SO_LINGER with time 0 -> disconnect (RST
from ESTABLISHED or CLOSE_WAIT), TCPABORTONDATA; else the normal close: FIN.

Destruction. __tcp_close() purges only the receive queue; the error queue is purged when the
socket's last reference goes, by inet_sock_destruct() (net/ipv4/af_inet.c, v6.18): both queues
are purged (each error-queue skb's destructor, sock_rmem_free(), gives its charge back), then
sk_mem_reclaim_final() drops the SO_RESERVE_MEM reservation and returns every whole page of
``sk_forward_alloc``; the kernel then warns if ``sk_rmem_alloc`` or ``sk_forward_alloc`` is not 0
(FACTS §5.4). SockDestruct is an environment action: when the last reference goes (at once
after a RST, after the FIN handshake and its timers otherwise, later still if another holder
keeps one) is not the close path's choice.

Candidate fixes of F1 (model/kernels.py). ``Config.close_purges_errqueue``
(fix-F1-purge-errqueue): once the receive queue is empty, one more PurgeStep purges the error
queue (a listener's close too, in its own branch), and only then comes the decision; an
error-queue skb charged between that purge and the decision (sock_queue_err_skb() takes no
socket lock) is still charged at the decision.
``Config.errqueue_refuses_closed`` (fix-F1-errqueue-closed, spec/receive.py): sock_queue_err_skb()
refuses an skb once close() has begun, so nothing is charged after the purge.

Simplifications: the backlog processed at release_sock() is not modelled (the workload delivers
nothing during a close); states between the decision and destruction (FIN_WAIT2, TIME_WAIT,
orphan limits) are not modelled; destruction runs on the lowest-numbered online CPU (which CPU
matters only to the metrics).
"""

from __future__ import annotations

from spec import accounting, core, rules, skbuff
from spec.actions import CloseDecide, CloseStart, PurgeStep, SockDestruct
from spec.core import Draft, View
from spec.state import DeferCtx, State, Task

# tcp_need_reset(): the states from which a disconnect sends a RST (those we model).
NEED_RESET = frozenset({"ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1"})


def tcp_eat_recv_skb(state: Draft, sk: int, skb_id: int) -> Draft:
    """tcp_eat_recv_skb(): unlink; uncharge and detach from the socket; hand to the defer path.
    Without ``Config.rmem_atomic`` (0de2a5c4b824, reverted by f278b6d5bb46, v6.15) the uncharge
    is tcp_sock_rfree()'s plain update: this step reads ``sk_rmem_alloc``, the task's next step
    (rfree_write) writes it back less the truesize."""
    ctx = ("task", sk)
    cpu = core.task_of(state, sk).cpu
    state = core.unlink(state, sk, skb_id)
    skb = state.skbs[skb_id]
    if skb.destructor != "sock_rfree" or skb.sk is None:
        return skbuff.kfree_skb(state, skb_id, ctx, cpu, "kfree_skb")
    if not state.config.rmem_atomic:
        return core.set_task(state, sk, rfree=(skb_id, state.sockets[skb.sk].sk_rmem_alloc))
    return _uncharge_and_defer(state, sk, skb_id, cpu)


def _uncharge_and_defer(state: Draft, sk: int, skb_id: int, cpu: int) -> Draft:
    state = accounting.sock_rfree(state, sk, cpu, state.skbs[skb_id].truesize)
    state = core.touch(state, skb_id, ("task", sk), destructor=None, sk=None)
    return core.set_task(state, sk, defer=DeferCtx(skb=skb_id))


def rfree_write(state: Draft, sk: int) -> Draft:
    """The second step of tcp_sock_rfree()'s plain update (0de2a5c4b824, net/ipv4/tcp.c, v6.15
    merge window): ``sk_rmem_alloc`` becomes the value read minus the truesize, whatever was
    charged since (an error-queue skb, sock_queue_err_skb(), takes no socket lock); then the
    rest of the uncharge and the hand-off, as tcp_eat_recv_skb()."""
    task = core.task_of(state, sk)
    assert task.rfree is not None
    skb_id, seen = task.rfree
    state = core.set_task(state, sk, rfree=None)
    state = core.set_sock(state, sk, sk_rmem_alloc=seen)
    return _uncharge_and_defer(state, sk, skb_id, task.cpu)


def guard_close_start(state: State, a: CloseStart) -> str | None:
    return core.syscall_blocked(state, a.sk, "close")


def apply_close_start(state: Draft, a: CloseStart) -> Draft:
    sock = state.sockets[a.sk]
    op = sock.ops[0]
    if sock.sk_state == "LISTEN":  # a listener has no data: straight to its death
        # (with fix-F1-purge-errqueue its branch purges the error queue too: one PurgeStep)
        task = Task(op="close", cpu=op.cpu, phase="purge" if state.config.close_purges_errqueue else "decide")
        return core.set_sock(state, a.sk, ops=sock.ops[1:], owner=task, shutdown=True, sk_state="CLOSE")
    task = Task(op="close", cpu=op.cpu, phase="purge")
    return core.set_sock(state, a.sk, ops=sock.ops[1:], owner=task, shutdown=True)


def _closing(state: View, sk: int) -> Task | None:
    task = state.sockets[sk].owner
    if task is None or task.op != "close" or task.defer is not None:
        return None
    return task


def guard_purge_step(state: State, a: PurgeStep) -> str | None:
    task = _closing(state, a.sk)
    if task is not None and task.rfree is not None:  # the iteration's write of sk_rmem_alloc
        return core.task_blocked(state, a.sk)
    if task is None or task.phase != "purge":
        return "no close() of this socket is in its purge loop between skbs"
    if not state.sockets[a.sk].sk_receive_queue and not state.config.close_purges_errqueue:
        return "the receive queue is empty"
    return core.task_blocked(state, a.sk)


def apply_purge_step(state: Draft, a: PurgeStep) -> Draft:
    sock = state.sockets[a.sk]
    task = sock.owner
    assert task is not None
    if task.rfree is not None:
        return rfree_write(state, a.sk)
    if not sock.sk_receive_queue:  # fix-F1: the receive queue is done; purge the error queue
        return purge_error_queue(state, a.sk, task.cpu)
    skb = state.skbs[sock.sk_receive_queue[0]]
    if state.config.unread_test == "end_seq":
        unread = task.data_was_unread
        if rules.unread_by_end_seq(skb.end_seq, skb.fin, sock.copied_seq):
            unread = 1
    else:
        unread = rules.unread_len_sum(task.data_was_unread, skb.seq, skb.end_seq, skb.fin)
    state = core.set_task(state, a.sk, data_was_unread=unread)
    if state.config.close_path == "close-new":
        return tcp_eat_recv_skb(state, a.sk, skb.id)
    state = core.unlink(state, a.sk, skb.id)
    return skbuff.kfree_skb(state, skb.id, ("task", a.sk), task.cpu, "kfree_skb")


def purge_error_queue(state: Draft, sk: int, cpu: int) -> Draft:
    """fix-F1-purge-errqueue: skb_queue_purge(&sk->sk_error_queue) after the receive queue's loop,
    on the closing CPU: each skb's destructor (sock_rmem_free()) gives its charge back. The
    purge takes the queue's lock for each dequeue; an error-queue skb charged after it stays."""
    ctx = ("task", sk)
    for skb_id in state.sockets[sk].sk_error_queue:
        state = core.hand(state, skb_id, ctx, ("held", "task", sk))
        state = skbuff.kfree_skb(state, skb_id, ctx, cpu, "close:err_queue")
    state = core.set_sock(state, sk, sk_error_queue=())
    return core.set_task(state, sk, phase="decide")


def guard_close_decide(state: State, a: CloseDecide) -> str | None:
    task = _closing(state, a.sk)
    if task is None or task.rfree is not None:
        return "no close() of this socket is between skbs"
    if task.phase == "purge" and state.sockets[a.sk].sk_receive_queue:
        return "the purge loop has not emptied the receive queue"
    if task.phase == "purge" and state.config.close_purges_errqueue:
        return "the error queue is not purged yet (fix-F1-purge-errqueue)"
    return core.task_blocked(state, a.sk)


def apply_close_decide(state: Draft, a: CloseDecide) -> Draft:
    sock = state.sockets[a.sk]
    task = sock.owner
    assert task is not None
    if sock.sk_state == "CLOSE":  # reset by the peer, or a listener: nothing to send
        return core.set_sock(state, a.sk, owner=None)
    if sock.repair:  # tcp_disconnect() in repair mode: no RST
        return core.set_sock(state, a.sk, owner=None, sk_state="CLOSE")
    if task.data_was_unread:
        return core.set_sock(
            state,
            a.sk,
            owner=None,
            sk_state="CLOSE",
            TCPABORTONCLOSE=sock.TCPABORTONCLOSE + 1,
            rst_sent=sock.rst_sent + 1,
        )
    if sock.sock_linger and sock.sk_lingertime == 0:
        return core.set_sock(
            state,
            a.sk,
            owner=None,
            sk_state="CLOSE",
            TCPABORTONDATA=sock.TCPABORTONDATA + 1,
            rst_sent=sock.rst_sent + int(sock.sk_state in NEED_RESET),
        )
    # tcp_close_state(): ESTABLISHED -> FIN_WAIT1, CLOSE_WAIT -> LAST_ACK, both send a FIN.
    nxt = {"ESTABLISHED": "FIN_WAIT1", "CLOSE_WAIT": "LAST_ACK"}.get(sock.sk_state)
    if nxt is None:
        return core.set_sock(state, a.sk, owner=None, sk_state="CLOSE")
    return core.set_sock(state, a.sk, owner=None, sk_state=nxt, fin_sent=sock.fin_sent + 1)


def guard_sock_destruct(state: State, a: SockDestruct) -> str | None:
    sock = state.sockets[a.sk]
    if sock.destroyed:
        return f"socket {a.sk} is already destroyed"
    if not sock.shutdown or sock.owner is not None or sock.ops:
        return f"socket {a.sk} has not finished its close()"
    return None


def apply_sock_destruct(state: Draft, a: SockDestruct) -> Draft:
    """inet_sock_destruct(): purge both queues (their destructors uncharge), then
    sk_mem_reclaim_final()."""
    cpu = next(c.id for c in state.cpus if c.online)
    ctx = ("task", a.sk)
    sock = state.sockets[a.sk]
    for queue, where in ((sock.sk_receive_queue, "rcv_queue"), (sock.sk_error_queue, "err_queue")):
        for skb_id in queue:
            state = core.hand(state, skb_id, ctx, ("held", "task", a.sk))
            state = skbuff.kfree_skb(state, skb_id, ctx, cpu, f"destruct:{where}")
    state = core.set_sock(state, a.sk, sk_receive_queue=(), sk_error_queue=(), destroyed=True)
    return accounting.sk_mem_reclaim_final(state, a.sk, cpu)
