"""Findings: promises (as FACTS §12 words them) that the faithful spec does not keep, each with
the shortest trace we know that shows it, the reason, and where it holds: the kernels of
model/machines.py (v6.17, v6.18 = v6.18.0, v6.18.y = 6.18.35, v6.19 = v6.19.0, v6.19.y) and the
preemption models (``Config.preempt``: none, voluntary, full). They are pinned by tests
(tests/test_findings.py): each trace must keep violating its invariant, and the machines that can
reach them name them in ``skip`` so that everything else stays checked there.

F1 rmem_zero_after_purge: an error-queue skb stays charged to ``sk_rmem_alloc`` after the
   purge, because __tcp_close() purges only the receive queue; the error queue is purged when the
   socket is destroyed (inet_sock_destruct(), spec/close.py: SockDestruct), and there the promise
   holds: invariant rmem_zero_at_destruction, checked by every machine with error-queue skbs.
   Holds on every kernel and every preemption model (the error queue is charged without the
   socket lock at any time).
F2 kick_leads_to_flush: a kicker passes its online test, the target CPU goes offline, the kicker
   kicks. kick_defer_list_purge() sets ``defer_ipi_scheduled`` and
   smp_call_function_single_async() fails with -ENXIO (kernel/smp.c: generic_exec_single()), so
   no IPI handler ever clears the flag (dev_cpu_dead() does not either, FACTS §14). After the CPU
   comes back, every later kick finds the flag set and sends nothing: the CPU's defer lists are
   flushed only when NET_RX runs there for other reasons (a packet arriving on it, other
   traffic). The CPU can go down inside that window only if the kicker can be stopped there:
   under full preemption only (stop_machine() needs every CPU at its stopper; FACTS §14). Two
   kickers: a producer in skb_attempt_defer_free() (process context, the close or recvmsg task:
   every kernel, defer-v6 and defer-v2 alike, whose guard dates from 97e719a82b43), and
   page_pool_release_retry() between its online test and its kick (v6.18.y, v6.19.y:
   ``Config.page_pool_kick``). Not under PREEMPT_NONE or VOLUNTARY; not from softirq producers.
F3 dead_cpu_slots_emptied: with the hotplug flush (06e3f54e8b22, mechanics assumed; in no named
   kernel), a producer stopped between its online check and its push lands on the dead CPU's
   slot after dev_cpu_dead() emptied it; the skb waits until the CPU returns and runs NET_RX. The
   same trace shows the weaker fact behind "an offline CPU is never deferred to": the kernel only
   guarantees that the target was online at the check. Full preemption only (as F2), defer-v6
   and defer-v2.
F4 rst_iff_data_lost under the old unread test (before 5f9238530970: v6.17): a retransmission of
   already-read data carrying a FIN is counted as unread, and close sends a spurious RST
   (packetdrill tcp_close_no_rst.pkt). This is the kernel bug that commit fixed; the spec's
   ``unread_test="len_sum"`` variant reproduces it. Every preemption model.
F5 no_wedged_slot after a write of skb_defer_max: while the sysctl is 0 (or 1, or below the
   count) every attempt falls back, and still adds one to defer_count; the list stays empty, and a
   flush skips an empty list, so the count is never reset. When the sysctl is raised again to
   any value not above the count, that (CPU, node) slot falls back forever: deferral to the CPU
   is off until skb_defer_max is set above the count. Seen live on this machine's v6.18 kernel
   (tcpclose probe; see the README): after one close with skb_defer_max 0, closes with 3, 16,
   64 and 128 sent no kick to the owning CPU until one close ran with a maximum above the count.
   defer-v6 kernels (v6.18 and later), every preemption model; not defer-v2 (v6.17), whose
   fallbacks do not count.
F6 no_wedged_slot without any sysctl write: the over-estimate of FACTS §9 taken to its end. A
   flush resets the count; before it detaches the list, producers on other CPUs count: with a
   maximum m, m - 1 increments inside that reset-to-detach window all push (counts 1 .. m - 1)
   and the detach takes their skbs, leaving the count at m - 1 on an empty list; the next attempt,
   at any later time, counts m and falls back, and from then on the slot is wedged. So m - 1
   in-window attempts suffice: 1 at skb_defer_max 2 (the trace: a second in-window attempt
   falls back at once), 63 at v6.18's default 64, 127 at v6.19's 128. Unlikely at the defaults,
   but the state, once reached, is final. defer-v6 kernels, every preemption model (the
   producers run on other CPUs; nothing needs to be preempted).
F7 deferred_skb_holds_no_refs without the zero-copy test (0943404b1f3b): a zero-copy skb is
   deferred with its user buffer still attached, and may wait there indefinitely (FACTS §11).
   Kernels without the test: v6.17 (defer-v2 never had it), v6.18 (v6.18.0), v6.19 (v6.19.0);
   gone on v6.18.y and v6.19.y. Every preemption model.
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
    DeferRead,
    DevCpuDead,
    Env,
    ErrQueueCharge,
    FlushDetach,
    FlushFree,
    FlushReset,
    Incoming,
    IpiDeliver,
    PacketArrives,
    PagePoolRetry,
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
from spec.state import DeferVariant, Preempt


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


def _offline_race(
    hotplug_flush: bool, defer_max: int, defer: DeferVariant = "defer-v6", preempt: Preempt = "full"
) -> tuple[State, list[Action]]:
    """Two skbs built on CPU 0, closed on CPU 1; CPU 0 goes down between the second skb's
    online check and its reads (the producer is preempted there: ``preempt`` "full")."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    sock = socket(0, packets, [UserOp("close", 1)])
    config = Config(hotplug_flush=hotplug_flush, defer=defer, preempt=preempt)
    state = boot(config, (0, 0), defer_max, [sock], Env(offlines=1))
    count: list[Action] = [DeferCount(0)] if defer == "defer-v6" else []
    actions: list[Action] = [
        PacketArrives(0), PacketArrives(0), CloseStart(0),
        PurgeStep(0), DeferCheck(0), DeferRead(0), *count, DeferPush(0),   # skb 0: count 1, pushed
        PurgeStep(0), DeferCheck(0),                                       # skb 1: CPU 0 still online
        CpuOffline(0), DevCpuDead(0),                                      # CPU 0 goes down
        DeferRead(0), *count, DeferPush(0),                                # skb 1: count 2, pushed
    ]  # fmt: skip
    return state, actions


def f2(defer: DeferVariant = "defer-v6", preempt: Preempt = "full") -> tuple[State, list[Action]]:
    """skb_defer_max 3: the second skb (v6: count 2 = 3/2 + 1; v2: count before it 1 = 3/2)
    kicks, into an offline CPU."""
    state, actions = _offline_race(hotplug_flush=False, defer_max=3, defer=defer, preempt=preempt)
    return state, [*actions, DeferKick(0), CloseDecide(0), CpuOnline(0)]


def f2_page_pool(preempt: Preempt = "full") -> tuple[State, list[Action]]:
    """The page-pool walk reads CPU 0 online, CPU 0 goes down, the walk kicks it (no IPI) and
    then CPU 1 (whose IPI and NET_RX run); CPU 0 returns with its guard set and no IPI queued."""
    config = Config(page_pool_kick=True, preempt=preempt)
    state = boot(config, (0, 0), 64, [socket(0, [], [])], Env(offlines=1, page_pool_releases=1))
    actions: list[Action] = [
        PagePoolRetry(), CpuOffline(0), DevCpuDead(0), PagePoolRetry(), PagePoolRetry(),
        IpiDeliver(1), SoftirqStart(1), CpuOnline(0),
    ]  # fmt: skip
    return state, actions


def f3(defer: DeferVariant = "defer-v6", preempt: Preempt = "full") -> tuple[State, list[Action]]:
    state, actions = _offline_race(hotplug_flush=True, defer_max=64, defer=defer, preempt=preempt)
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
        DeferRead(0),
        DeferCount(0),
        DeferPush(0),
        RecvEnd(0),
        PacketArrives(0),  # CPU 0's slot holds the first skb: its NET_RX run flushes it first
        FlushReset(0),
        FlushDetach(0),
        FlushFree(0),  # ... then builds the retransmission
        CloseStart(0),
        PurgeStep(0),
        DeferCheck(0),
        DeferRead(0),
        DeferCount(0),
        DeferPush(0),
        CloseDecide(0),
    ]
    return state, actions


def _f5() -> tuple[State, list[Action]]:
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(3)]
    env = Env(defer_max_values=(0, 3), defer_max_writes=2)
    state = boot(Config(), (0, 0), 3, [socket(0, packets, [UserOp("close", 1)])], env)
    attempt: list[Action] = [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0)]  # each falls back
    actions: list[Action] = [PacketArrives(0)] * 3 + [SetDeferMax(0), CloseStart(0)]
    return state, [*actions, *attempt * 3, CloseDecide(0), SetDeferMax(3)]


def _f6() -> tuple[State, list[Action]]:
    one = Incoming(cpu=0, length=1448, truesize=2304)
    socks = [socket(0, [one, one], [UserOp("close", 1)]), socket(1, [one], [UserOp("close", 1)])]
    state = boot(Config(), (0, 0), 2, socks, Env(netrx_raises=1))
    actions: list[Action] = [
        PacketArrives(0), PacketArrives(0), PacketArrives(1),
        CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0),  # count 1
        RaiseNetRx(0), SoftirqStart(0), FlushReset(0),                            # count 0
        PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0),                 # count 1
        CloseStart(1), PurgeStep(1), DeferCheck(1), DeferRead(1), DeferCount(1),  # count 2: falls back
        DeferPush(0), FlushDetach(0), FlushFree(0),                               # list empty, count 2
        CloseDecide(0), CloseDecide(1),
    ]  # fmt: skip
    return state, actions


def _f7() -> tuple[State, list[Action]]:
    # v6.18.0: no zero-copy test; the zero-copy skb is counted and pushed like any other.
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304, zcopy=True)], [UserOp("close", 1)])
    state = boot(Config(zcopy_check=False), (0, 0), 64, [sock])
    actions: list[Action] = [
        PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0),
    ]  # fmt: skip
    return state, actions


FINDINGS: dict[str, Finding] = {
    f.id: f
    for f in (
        Finding("F1", "rmem_zero_after_purge", "error-queue skbs stay charged after the purge", _f1),
        Finding("F2", "kick_leads_to_flush", "a kick into a CPU going offline leaves the IPI guard set", f2),
        Finding("F3", "dead_cpu_slots_emptied", "a late producer pushes onto a dead CPU's slot", f3),
        Finding("F4", "rst_iff_data_lost", "the old unread test sends a spurious RST", _f4),
        Finding("F5", "no_wedged_slot", "after skb_defer_max 0, a slot falls back forever", _f5),
        Finding("F6", "no_wedged_slot", "the reset window can wedge a slot (max - 1 attempts in it)", _f6),
        Finding("F7", "deferred_skb_holds_no_refs", "without 0943404b1f3b a zero-copy skb is deferred", _f7),
    )
}
