"""The receive side: a packet queued on a socket, an error-queue charge, and recvmsg().

Mirrors net/ipv4/tcp_input.c: tcp_data_queue()/tcp_queue_rcv() (in-order data, a FIN moves
ESTABLISHED to CLOSE_WAIT), net/core/skbuff.c: sock_queue_err_skb(), and net/ipv4/tcp.c:
tcp_recvmsg_locked(); v6.18.

Theory of operation. A packet is received in NET_RX on its RX CPU: net_rx_action() first
flushes that CPU's defer slots (909876500251, v5.19; spec/flush.py), then the NAPI poll builds
the skb there (``alloc_cpu``), charges it to the socket and appends it to the receive queue.
When the socket is owned by a task the kernel parks the packet on the backlog and processes it
at release_sock(); the spec lets it arrive only while the socket is not owned, and starts no
system call on the socket while its packet is in NET_RX, which is the same order of events.
An error-queue skb is charged (sk_rmem_alloc only) without the socket lock, at any time.
recvmsg() copies bytes from the head skb; an skb read to its end is eaten by
tcp_eat_recv_skb(), exactly as close-new does, and a FIN consumes one sequence number and
ends the call.

With fix-F1-errqueue-closed (``Config.errqueue_refuses_closed``) sock_queue_err_skb() refuses the
skb once close() has begun (the patch tests, under the error queue's lock, a mark __tcp_close()
sets under that lock at its start; the spec's ``Sock.shutdown``, set by the close's first step):
the caller frees it, nothing is charged.

Simplifications: out-of-order segments are not modelled (they never count as unread at close);
recvmsg() never blocks (it returns when the queue is empty); no MSG_PEEK.
"""

from __future__ import annotations

from spec import accounting, close, core, flush, rules, skbuff
from spec.actions import ErrQueueCharge, PacketArrives, RecvCopy, RecvEnd, RecvStart
from spec.core import Draft
from spec.state import State, Task


def guard_packet_arrives(state: State, a: PacketArrives) -> str | None:
    sock = state.sockets[a.sk]
    if not sock.rx or sock.rx[0].errqueue:
        return "no data packet is next in the socket's workload"
    if sock.owner is not None:
        return "the socket is owned by a task (the packet waits in the backlog)"
    if core.rx_in_flight(state, a.sk):
        return "the socket's previous packet is still in NET_RX"
    if sock.sk_state not in ("ESTABLISHED",):
        return f"the socket is in {sock.sk_state} and takes no more data"
    incoming = sock.rx[0]
    cpu = state.cpus[incoming.cpu]
    if not cpu.online or cpu.softirq is not None:
        return f"CPU {incoming.cpu} is not free to run NET_RX"
    if incoming.length < 0 or incoming.overlap < 0 or incoming.truesize <= 0:
        return "the packet's length, overlap or truesize is out of range"
    if incoming.overlap >= incoming.length + int(incoming.fin):
        return "the packet carries nothing new (the kernel drops it before queueing)"
    return None


def apply_packet_arrives(state: Draft, a: PacketArrives) -> Draft:
    return flush.net_rx_action(state, state.sockets[a.sk].rx[0].cpu, a.sk)


def napi_poll_rx(state: Draft, sk: int) -> Draft:
    """The NAPI poll after the flush: build the socket's next packet on its RX CPU, charge it and
    queue it (tcp_data_queue()); a FIN moves ESTABLISHED to CLOSE_WAIT."""
    sock = state.sockets[sk]
    incoming = sock.rx[0]
    seq = rules.seq_add(sock.rcv_nxt, -incoming.overlap)
    end_seq = rules.seq_add(seq, incoming.length + int(incoming.fin))
    ctx = ("rx", incoming.cpu)
    state, skb_id = skbuff.alloc_skb(state, sk, incoming, seq, end_seq, ctx)
    state = accounting.sk_rmem_schedule_and_charge(state, sk, incoming.cpu, incoming.truesize)
    state = core.touch(state, skb_id, ctx, sk=sk, destructor="sock_rfree")
    state = core.hand(state, skb_id, ctx, ("rcv_queue", sk))
    return core.set_sock(
        state,
        sk,
        rx=sock.rx[1:],
        rcv_nxt=end_seq,
        sk_receive_queue=(*sock.sk_receive_queue, skb_id),
        sk_state="CLOSE_WAIT" if incoming.fin else sock.sk_state,
    )


def guard_err_queue_charge(state: State, a: ErrQueueCharge) -> str | None:
    sock = state.sockets[a.sk]
    if not sock.rx or not sock.rx[0].errqueue:
        return "no error-queue skb is next in the socket's workload"
    if sock.destroyed:
        return "the socket is destroyed"
    if not state.cpus[sock.rx[0].cpu].online:
        return f"CPU {sock.rx[0].cpu} is offline"
    return None


def apply_err_queue_charge(state: Draft, a: ErrQueueCharge) -> Draft:
    sock = state.sockets[a.sk]
    incoming = sock.rx[0]
    ctx = ("rx", incoming.cpu)
    state, skb_id = skbuff.alloc_skb(state, a.sk, incoming, 0, 0, ctx)
    if state.config.errqueue_refuses_closed and sock.shutdown:  # fix-F1: refused, the caller frees it
        state = skbuff.kfree_skb(state, skb_id, ctx, incoming.cpu, "errqueue_refused")
        return core.set_sock(state, a.sk, rx=sock.rx[1:])
    state = core.touch(state, skb_id, ctx, sk=a.sk, destructor="sock_rmem_free")
    state = core.hand(state, skb_id, ctx, ("err_queue", a.sk))
    sock = state.sockets[a.sk]
    return core.set_sock(
        state,
        a.sk,
        rx=sock.rx[1:],
        sk_rmem_alloc=sock.sk_rmem_alloc + incoming.truesize,
        sk_error_queue=(*sock.sk_error_queue, skb_id),
    )


def guard_recv_start(state: State, a: RecvStart) -> str | None:
    return core.syscall_blocked(state, a.sk, "recv")


def apply_recv_start(state: Draft, a: RecvStart) -> Draft:
    sock = state.sockets[a.sk]
    op = sock.ops[0]
    task = Task(op="recv", cpu=op.cpu, phase="copy", recv_left=op.nbytes)
    return core.set_sock(state, a.sk, ops=sock.ops[1:], owner=task)


def guard_recv_copy(state: State, a: RecvCopy) -> str | None:
    task = state.sockets[a.sk].owner
    if task is None or task.op != "recv" or task.defer is not None:
        return "no recvmsg() of this socket is between skbs"
    if task.rfree is not None:  # the eaten skb's write of sk_rmem_alloc
        return core.task_blocked(state, a.sk)
    if task.recv_left == 0 or not state.sockets[a.sk].sk_receive_queue:
        return "recvmsg() has nothing more to copy"
    return core.task_blocked(state, a.sk)


def apply_recv_copy(state: Draft, a: RecvCopy) -> Draft:
    sock = state.sockets[a.sk]
    task = sock.owner
    assert task is not None
    if task.rfree is not None:
        return close.rfree_write(state, a.sk)
    skb = state.skbs[sock.sk_receive_queue[0]]
    offset = (sock.copied_seq - skb.seq) & rules.U32_MASK
    avail = rules.payload_len(skb.seq, skb.end_seq, skb.fin) - offset
    used = max(0, min(avail, task.recv_left))
    copied_seq = rules.seq_add(sock.copied_seq, used)
    left = task.recv_left - used
    if used < avail:
        return core.set_sock(state, a.sk, copied_seq=copied_seq, owner=_left(task, left))
    if skb.fin:  # found_fin_ok: the FIN takes a sequence number and ends the call
        copied_seq = rules.seq_add(copied_seq, 1)
        left = 0
    state = core.set_sock(state, a.sk, copied_seq=copied_seq, owner=_left(task, left))
    return close.tcp_eat_recv_skb(state, a.sk, skb.id)


def _left(task: Task, left: int) -> Task:
    return core.evolve(task, recv_left=left)


def guard_recv_end(state: State, a: RecvEnd) -> str | None:
    task = state.sockets[a.sk].owner
    if task is None or task.op != "recv" or task.defer is not None or task.rfree is not None:
        return "no recvmsg() of this socket is between skbs"
    if task.recv_left and state.sockets[a.sk].sk_receive_queue:
        return "recvmsg() still has data to copy"
    return core.task_blocked(state, a.sk)


def apply_recv_end(state: Draft, a: RecvEnd) -> Draft:
    return core.set_sock(state, a.sk, owner=None)
