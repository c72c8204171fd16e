"""Findings: promises (as FACTS §12 words them) that the faithful spec does not keep, each with
the shortest trace we know that shows it and the reason. They are pinned by tests
(tests/test_findings.py): each trace must keep violating its invariant, and the machines that can
reach them name them in ``skip`` so that everything else stays checked there.

F1 rmem_zero_after_purge: an error-queue skb stays charged to ``sk_rmem_alloc`` after the
   purge, because __tcp_close() purges only the receive queue; the error queue is purged when the
   socket is destroyed (inet_sock_destruct()), so the promise holds at destruction, not at the
   decision.
F2 kick_leads_to_flush: a producer passes the online check, the target CPU goes offline, the
   producer counts, pushes and kicks. kick_defer_list_purge() sets ``defer_ipi_scheduled`` and
   smp_call_function_single_async() fails with -ENXIO (kernel/smp.c: generic_exec_single()), so
   no IPI handler ever clears the flag. After the CPU comes back, every later kick finds the flag
   set and sends nothing: the CPU's defer lists are flushed only if NET_RX runs there for other
   reasons. Read in v6.18 source (net/core/dev.c, kernel/smp.c); nothing in dev_cpu_dead() or the
   hotplug callbacks resets the flag.
F3 dead_cpu_slots_emptied: with the hotplug flush (06e3f54e8b22, mechanics assumed), a producer
   preempted between its online check and its push lands on the dead CPU's slot after
   dev_cpu_dead() emptied it; the skb waits until the CPU returns and runs NET_RX. The same trace
   shows the weaker fact behind "an offline CPU is never deferred to": the kernel only guarantees
   that the target was online at the check.
F5 no_wedged_slot after a write of skb_defer_max: while the sysctl is 0 (or 1, or below the
   count) every attempt falls back, and still adds one to defer_count; the list stays empty, and a
   flush skips an empty list, so the count is never reset. When the sysctl is raised again to
   any value not above the count, that (CPU, node) slot falls back forever: deferral to the CPU
   is off until skb_defer_max is set above the count. Seen live on this machine's v6.18 kernel
   (tcpclose probe; see the README): after one close with skb_defer_max 0, closes with 3, 16,
   64 and 128 sent no kick to the owning CPU until one close ran with a maximum above the count.
F6 no_wedged_slot without any sysctl write: the over-estimate of FACTS §9 taken to its end. A
   flush resets the count; before it detaches the list, producers count up to skb_defer_max
   (one pushes, the last falls back); the detach empties the list and leaves the count at the
   maximum. With skb_defer_max 2 two producers suffice; with the default 64 it takes 64 attempts
   inside the reset-to-detach window, which is unlikely, but the state, once reached, is final.
F4 rst_iff_data_lost under the old unread test (before 5f9238530970): a retransmission of
   already-read data carrying a FIN is counted as unread, and close sends a spurious RST
   (packetdrill tcp_close_no_rst.pkt). This is the kernel bug that commit fixed; the spec's
   ``unread_test="len_sum"`` variant reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from model.scenarios import socket
from spec import (
    Action,
    CloseDecide,
    CloseStart,
    Config,
    CpuOffline,
    CpuOnline,
    DeferCheck,
    DeferCount,
    DeferKick,
    DeferPush,
    DevCpuDead,
    Env,
    ErrQueueCharge,
    FlushDetach,
    FlushFree,
    FlushReset,
    Incoming,
    PacketArrives,
    PurgeStep,
    RaiseNetRx,
    RecvCopy,
    RecvEnd,
    RecvStart,
    SetDeferMax,
    SoftirqStart,
    State,
    UserOp,
    boot,
)


@attrs.frozen
class Finding:
    id: str
    invariant: str
    title: str
    build: Callable[[], tuple[State, list[Action]]]


def _f1() -> tuple[State, list[Action]]:
    sock = socket(0, [Incoming(cpu=0, length=0, truesize=768, errqueue=True)], [UserOp("close", 1)])
    state = boot(Config(), (0, 0), 64, [sock])
    return state, [ErrQueueCharge(0), CloseStart(0), CloseDecide(0)]


def _offline_race(hotplug_flush: bool, defer_max: int) -> tuple[State, list[Action]]:
    """Two skbs built on CPU 0, closed on CPU 1; CPU 0 goes down between the second skb's
    online check and its count."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    sock = socket(0, packets, [UserOp("close", 1)])
    state = boot(Config(hotplug_flush=hotplug_flush), (0, 0), defer_max, [sock], Env(offlines=1))
    actions: list[Action] = [
        PacketArrives(0), PacketArrives(0), CloseStart(0),
        PurgeStep(0), DeferCheck(0), DeferCount(0), DeferPush(0),   # skb 0: count 1, pushed
        PurgeStep(0), DeferCheck(0),                                # skb 1: CPU 0 still online
        CpuOffline(0), DevCpuDead(0),                               # CPU 0 goes down
        DeferCount(0), DeferPush(0),                                # skb 1: count 2, pushed
    ]  # fmt: skip
    return state, actions


def _f2() -> tuple[State, list[Action]]:
    # skb_defer_max 3: the second skb (count 2 = 3/2 + 1) kicks, into an offline CPU.
    state, actions = _offline_race(hotplug_flush=False, defer_max=3)
    return state, [*actions, DeferKick(0), CloseDecide(0), CpuOnline(0)]


def _f3() -> tuple[State, list[Action]]:
    state, actions = _offline_race(hotplug_flush=True, defer_max=64)
    return state, [*actions, CloseDecide(0)]


def _f4() -> tuple[State, list[Action]]:
    # The application reads the 1000 bytes it was sent; the peer retransmits them with a FIN.
    packets = [
        Incoming(cpu=0, length=1000, truesize=2304),
        Incoming(cpu=0, length=1000, truesize=2304, fin=True, overlap=1000),
    ]
    sock = socket(0, packets, [UserOp("recv", 1, 1000), UserOp("close", 1)])
    state = boot(Config(unread_test="len_sum"), (0, 0), 64, [sock])
    actions: list[Action] = [
        PacketArrives(0),
        RecvStart(0),
        RecvCopy(0),
        DeferCheck(0),
        DeferCount(0),
        DeferPush(0),
        RecvEnd(0),
        PacketArrives(0),
        CloseStart(0),
        PurgeStep(0),
        DeferCheck(0),
        DeferCount(0),
        DeferPush(0),
        CloseDecide(0),
    ]
    return state, actions


def _f5() -> tuple[State, list[Action]]:
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(3)]
    env = Env(defer_max_values=(0, 3), defer_max_writes=2)
    state = boot(Config(), (0, 0), 3, [socket(0, packets, [UserOp("close", 1)])], env)
    attempt: list[Action] = [PurgeStep(0), DeferCheck(0), DeferCount(0)]  # each falls back
    actions: list[Action] = [PacketArrives(0)] * 3 + [SetDeferMax(0), CloseStart(0)]
    return state, [*actions, *attempt * 3, CloseDecide(0), SetDeferMax(3)]


def _f6() -> tuple[State, list[Action]]:
    one = Incoming(cpu=0, length=1448, truesize=2304)
    socks = [socket(0, [one, one], [UserOp("close", 1)]), socket(1, [one], [UserOp("close", 1)])]
    state = boot(Config(), (0, 0), 2, socks, Env(netrx_raises=1))
    actions: list[Action] = [
        PacketArrives(0), PacketArrives(0), PacketArrives(1),
        CloseStart(0), PurgeStep(0), DeferCheck(0), DeferCount(0), DeferPush(0),  # count 1, pushed
        RaiseNetRx(0), SoftirqStart(0), FlushReset(0),                            # count 0
        PurgeStep(0), DeferCheck(0), DeferCount(0),                               # count 1
        CloseStart(1), PurgeStep(1), DeferCheck(1), DeferCount(1),                # count 2: falls back
        DeferPush(0), FlushDetach(0), FlushFree(0),                               # list empty, count 2
        CloseDecide(0), CloseDecide(1),
    ]  # fmt: skip
    return state, actions


FINDINGS: dict[str, Finding] = {
    f.id: f
    for f in (
        Finding("F1", "rmem_zero_after_purge", "error-queue skbs stay charged after the purge", _f1),
        Finding("F2", "kick_leads_to_flush", "a kick into a CPU going offline leaves the IPI guard set", _f2),
        Finding("F3", "dead_cpu_slots_emptied", "a late producer pushes onto a dead CPU's slot", _f3),
        Finding("F4", "rst_iff_data_lost", "the old unread test sends a spurious RST", _f4),
        Finding("F5", "no_wedged_slot", "after skb_defer_max 0, a slot falls back forever", _f5),
        Finding("F6", "no_wedged_slot", "the reset window can wedge a slot at a small maximum", _f6),
    )
}
