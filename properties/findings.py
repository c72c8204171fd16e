"""Findings: promises (as the user and FACTS §12 word them) that the faithful spec does not keep.
Each is an explanation, the shortest trace we know, a signature, and where it holds: the kernels
of model/machines.py (v6.17, v6.18 = v6.18.0, v6.18.y = 6.18.35, v6.19 = v6.19.0, v6.19.y) and the
preemption models (``Config.preempt``: none, voluntary, full). The signature is a predicate over a
run that recognises the finding's mechanism (which steps happened, in which order, with which
values). Every driver (state machines, explorer, replay, ``check``) checks every invariant
everywhere; a violation counts as "known Fn" only when Fn's signature explains it, and anything
else is a failure. The traces are pinned by tests (tests/test_findings.py), and each signature is
shown not to explain the mutants that break the same invariant.

F1 rmem_zero_after_purge: an error-queue skb stays charged to ``sk_rmem_alloc`` after the
   purge, because __tcp_close() purges only the receive queue; the error queue is purged when the
   socket is destroyed (inet_sock_destruct(), spec/close.py: SockDestruct), and there the promise
   holds: invariant rmem_zero_at_destruction, checked by every machine with error-queue skbs.
   Holds on every kernel and every preemption model (the error queue is charged without the
   socket lock at any time).
   Signature: at the decision, the receive queue is empty and the charge left is exactly the
   error queue's.
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
   Signature: each CPU left unserved has its guard set since a claim made while it was offline,
   with no IPI queued. On a kernel without the guard (before 97e719a82b43: ``Config.ipi_guard``)
   the same race loses that one kick instead of every later one: the producer's own queueing of
   the descriptor fails with -ENXIO; signature: each CPU left unserved had a kick's queueing fail
   on it offline since its last served kick.
F3 dead_cpu_slots_emptied: with the hotplug flush (06e3f54e8b22, mechanics assumed; in no named
   kernel), a producer stopped between its online check and its push lands on the dead CPU's
   slot after dev_cpu_dead() emptied it; the skb waits until the CPU returns and runs NET_RX. The
   same trace shows the weaker fact behind "an offline CPU is never deferred to": the kernel only
   guarantees that the target was online at the check. Full preemption only (as F2), defer-v6
   and defer-v2.
   Signature: each skb left there was pushed in the dead period by a producer whose online check
   saw the CPU online (the ghost hotplug_gen of its record).
F4 rst_iff_data_lost under the old unread test (before 5f9238530970: v6.17): a retransmission of
   already-read data carrying a FIN is counted as unread, and close sends a spurious RST
   (packetdrill tcp_close_no_rst.pkt). This is the kernel bug that commit fixed; the spec's
   ``unread_test="len_sum"`` variant reproduces it. Every preemption model.
   Signature: summed test, nothing unread, a RST, and a purged segment whose payload had been read.
F5 no_wedged_slot after a write of skb_defer_max: while the sysctl is 0 (or 1, or below the
   count) every attempt falls back, and still adds one to defer_count; the list stays empty, and a
   flush skips an empty list, so the count is never reset. When the sysctl is raised again to
   any value not above the count, that (CPU, node) slot falls back forever: deferral to the CPU
   is off until skb_defer_max is set above the count. Seen live on this machine's v6.18 kernel
   (tcpclose probe; see the README): after one close with skb_defer_max 0, closes with 3, 16,
   64 and 128 sent no kick to the owning CPU until one close ran with a maximum above the count.
   defer-v6 kernels (v6.18 and later), every preemption model; not defer-v2 (v6.17), whose
   fallbacks do not count.
   Signature: each wedged slot's count since its last reset is made of single increments, some
   of which read a smaller maximum than today's.
F6 no_wedged_slot without any sysctl write: the over-estimate of FACTS §9 taken to its end. A
   flush resets the count; before it detaches the list, producers on other CPUs count: with a
   maximum m, m - 1 increments inside that reset-to-detach window all push (counts 1 .. m - 1)
   and the detach takes their skbs, leaving the count at m - 1 on an empty list; the next attempt,
   at any later time, counts m and falls back, and from then on the slot is wedged. So m - 1
   in-window attempts suffice: 1 at skb_defer_max 2 (the trace: a second in-window attempt
   falls back at once), 63 at v6.18's default 64, 127 at v6.19's 128. Unlikely at the defaults,
   but the state, once reached, is final. defer-v6 kernels, every preemption model (the
   producers run on other CPUs; nothing needs to be preempted).
   Signature: single increments only, some inside a reset-to-detach window, none under a
   smaller maximum.
F7 no_push_to_offline_cpu: "an offline CPU is never deferred to" does not hold at slot level.
   The online check and the push are separate steps of skb_attempt_defer_free(); a producer
   stopped between them pushes onto the slot of a CPU that went offline meanwhile (the kernel
   guarantees only that the target was online at the check, which defer_check_sees_online
   holds). Without the hotplug flush the skb waits until the CPU returns. Full preemption only
   (as F2), defer-v6 and defer-v2. Signature: the producer's check saw the CPU online and the
   CPU's hotplug phase moved on by the push.
F8 one_kick_per_slot_epoch: "exactly one kick per half-capacity crossing" does not hold when
   skb_defer_max is written mid-epoch. Each attempt kicks at count max/2 + 1 of the max it read;
   a write between two attempts of one epoch moves the kick point past the count already
   reached (3 -> 4: counts 2 and 3 both kick). The guard keeps it to one IPI in flight, so the
   cost is at most one extra IPI. Every kernel and preemption model. Signature: the kicks of the
   repeated epoch read different maxima.
F10 deferred_skbs_freed_or_allowed after writes of skb_defer_max mid-epoch: the other face of
   F8. Each attempt tests the kick point of the maximum it read, so writes between attempts can
   make every attempt miss it: on defer-v2 with 3 -> 4 -> 3, the push whose count before it is 1
   read 4 (kick point 2) and the push whose count before it is 2 read 3 (kick point 1). The
   slot then holds skbs past the kick point of their own maximum and no kick is owed: they wait
   for unrelated NET_RX on the owning CPU, which FACTS §12 allows only below the kick point. On
   defer-v6 one write that moves the kick point below the count already reached is enough: 10 -> 6
   after four pushes (kick points 6, then 4; the fifth push counts 5; model/small.py sysctl-skip).
   Every kernel and preemption model. Signature: each skb waiting without an allowed reason is
   on an online CPU with no kick owed, and its slot epoch's pushes read different maxima, none at
   its own kick point, with no kick made.
F11 deferred_skbs_freed_or_allowed without any sysctl write, at skb_defer_max 6 or more: an
   attempt counts after its slot epoch's kick (count max/2 + 2, still below the maximum) before
   the flush's reset, and pushes after the flush's detach. Its skb lands on the new list, past the
   kick point of its epoch, and no kick is owed: the reset started a new epoch whose kick needs
   max/2 + 1 more pushes. So it waits for unrelated NET_RX, which FACTS §12 allows only below the
   kick point (FACTS §9's "uncounted skb"). defer-v6 kernels, every preemption model; found by the
   explorer on a configuration the machines do not draw (their skb_defer_max is at most 4).
   Signature: each skb waiting without an allowed reason is on an online CPU with no kick owed,
   was counted in an epoch that a reset has since ended and that had its kick, and its count is
   past its kick point.
F9 deferred_skb_holds_no_refs without the zero-copy test (0943404b1f3b): a zero-copy skb is
   deferred with its user buffer still attached, and may wait there indefinitely (FACTS §11).
   Kernels without the test: v6.17 (defer-v2 never had it), v6.18 (v6.18.0), v6.19 (v6.19.0);
   gone on v6.18.y and v6.19.y. Every preemption model.
   Signature: each deferred skb that holds a reference holds only its zero-copy buffer, on a
   kernel without the test.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from model.scenarios import socket
from properties.invariants import waiting_reasons
from properties.runs import Run, Violation
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
    DeferRecord,
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

Signature = Callable[[Run, Violation], bool]


@attrs.frozen
class Finding:
    """A known finding: the invariant it breaks, a title, the shortest trace we know (``build``)
    and its signature: a predicate over a run and one violation of ``invariant`` that holds only
    when the run shows this finding's mechanism (which steps happened, in which order, with which
    values). A violation that no signature explains is a failure, whatever its invariant."""

    id: str
    invariant: str
    title: str
    build: Callable[[], tuple[State, list[Action]]]
    signature: Signature


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


def _f9() -> tuple[State, list[Action]]:
    # v6.18.0: no zero-copy test; the zero-copy skb is counted and pushed like any other.
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304, zcopy=True)], [UserOp("close", 1)])
    state = boot(Config(zcopy_check=False), (0, 0), 64, [sock])
    actions: list[Action] = [
        PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0),
    ]  # fmt: skip
    return state, actions


def _f7() -> tuple[State, list[Action]]:
    # The producer's check sees CPU 0 online; CPU 0 goes down; the push lands on its slot.
    state, actions = _offline_race(hotplug_flush=False, defer_max=64)
    return state, [*actions, CloseDecide(0)]


def _f8() -> tuple[State, list[Action]]:
    # skb_defer_max 3 kicks at count 2; the sysctl goes to 4, whose kick point is count 3: the
    # third push of the same epoch kicks again.
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(3)]
    env = Env(defer_max_values=(4,), defer_max_writes=1)
    state = boot(Config(), (0, 0), 3, [socket(0, packets, [UserOp("close", 1)])], env)
    attempt: list[Action] = [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    actions: list[Action] = [PacketArrives(0)] * 3 + [CloseStart(0), *attempt]  # count 1
    actions += [*attempt, DeferKick(0), SetDeferMax(4), *attempt, DeferKick(0)]  # count 2 kicks, count 3 kicks
    return state, actions


def _f11() -> tuple[State, list[Action]]:
    # skb_defer_max 6 kicks at count 4; the fifth attempt counts 5 before the flush's reset and
    # pushes after its detach.
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(5)]
    state = boot(Config(), (0, 0), 6, [socket(0, packets, [UserOp("close", 1)])])
    attempt: list[Action] = [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0)]
    actions: list[Action] = [PacketArrives(0)] * 5 + [CloseStart(0)]
    actions += [*attempt, DeferPush(0)] * 3 + [*attempt, DeferPush(0), DeferKick(0)]  # counts 1-3, 4 kicks
    actions += [*attempt, IpiDeliver(0), SoftirqStart(0), FlushReset(0), FlushDetach(0)]  # count 5; the flush
    return state, [*actions, DeferPush(0), CloseDecide(0), FlushFree(0)]  # the push lands on the new list


def _f10() -> tuple[State, list[Action]]:
    # defer-v2, skb_defer_max 3 (kick when the count before the push is 1): the second push read
    # 4 (kick point 2), the third read 3 again with the count before it at 2: no push kicks.
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(3)]
    env = Env(defer_max_values=(3, 4), defer_max_writes=2)
    state = boot(Config(defer="defer-v2"), (0, 0), 3, [socket(0, packets, [UserOp("close", 1)])], env)
    actions: list[Action] = [PacketArrives(0)] * 3 + [CloseStart(0)]
    actions += [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferPush(0), SetDeferMax(4)]  # count 1
    actions += [PurgeStep(0), DeferCheck(0), DeferRead(0), SetDeferMax(3), DeferPush(0)]  # count 2, read 4
    actions += [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferPush(0), CloseDecide(0)]  # count 3, read 3
    return state, actions


# -- signatures ----------------------------------------------------------------------------------


def _transition(run: Run, v: Violation) -> tuple[State, Action, State] | None:
    if v.quiescent or not 1 <= v.step <= len(run.actions):
        return None
    return run.states[v.step - 1], run.actions[v.step - 1], run.states[v.step]


def _sig_f1(run: Run, v: Violation) -> bool:
    """At the decision the receive queue is empty and what stays charged is exactly the error
    queue's skbs."""
    t = _transition(run, v)
    if t is None or not isinstance(t[1], CloseDecide):
        return False
    pre, a, post = t[0], t[1], t[2]
    sock = pre.sockets[a.sk]
    errq = sum(pre.skbs[i].truesize for i in sock.sk_error_queue)
    return not sock.sk_receive_queue and errq > 0 and post.sockets[a.sk].sk_rmem_alloc == errq


def _guard_stuck_by_offline_kick(run: Run, cpu: int) -> bool:
    """Some step claimed CPU ``cpu``'s IPI guard while the CPU was offline, so that no IPI was
    queued, and the guard stayed set from then to the end of the run."""
    states = run.states
    for i in range(len(states) - 1, 0, -1):
        pre, post = states[i - 1].cpus[cpu], states[i].cpus[cpu]
        if not post.defer_ipi_scheduled:
            return False
        if not pre.defer_ipi_scheduled:
            return not pre.online and not post.ipi_queued
    return False


def _kick_lost_to_offline_cpu(run: Run, cpu: int) -> bool:
    """Without the IPI guard: since CPU ``cpu``'s kicks were last served, a kick's queueing of
    the descriptor (a DeferKick at its "csd" step) found the CPU offline (-ENXIO)."""
    for i in range(len(run.actions), 0, -1):
        pre, a = run.states[i - 1], run.actions[i - 1]
        if not run.states[i].cpus[cpu].kick_unserved:
            return False
        owner = pre.sockets[a.sk].owner if isinstance(a, DeferKick) else None
        ctx = owner.defer if owner is not None else None
        if ctx is not None and ctx.pc == "csd" and ctx.cpu == cpu and not pre.cpus[cpu].online:
            return True
    return False


def _sig_f2(run: Run, v: Violation) -> bool:
    """Under full preemption, every online CPU left kicked but unflushed has its guard set with no
    IPI queued, and the guard was claimed by a kick while the CPU was offline (-ENXIO), never
    cleared since; without the guard, a kick's own IPI to it failed that way."""
    if not v.quiescent:
        return False
    unserved = [c for c in run.final.cpus if c.online and c.kick_unserved]
    if not run.initial.config.ipi_guard:
        lost = [not c.ipi_queued and _kick_lost_to_offline_cpu(run, c.id) for c in unserved]
        return run.initial.config.preempt == "full" and bool(unserved) and all(lost)
    return (
        run.initial.config.preempt == "full"
        and bool(unserved)
        and all(
            c.defer_ipi_scheduled and not c.ipi_queued and _guard_stuck_by_offline_kick(run, c.id) for c in unserved
        )
    )


def _went_down_after_check(rec: DeferRecord | None) -> bool:
    """The producer's online check passed while its target was online (ghost ``checked_gen``, a
    multiple of 3), and the target's hotplug phase had moved on by the push."""
    return rec is not None and rec.checked_gen >= 0 and rec.checked_gen % 3 == 0 and rec.pushed_gen > rec.checked_gen


def _sig_f3(run: Run, v: Violation) -> bool:
    """Under full preemption, every skb left on an offline CPU after its dev_cpu_dead() was pushed in this dead period
    (after dev_cpu_dead() ran) by a producer whose online check came before the CPU went down."""
    if not v.quiescent or run.initial.config.preempt != "full":
        return False
    s = run.final
    left = [
        (s.skbs[i].deferred, c.hotplug_gen)
        for c in s.cpus
        if not c.online and not c.dead_pending
        for sl in c.defer_slots
        for i in sl.defer_list
    ]
    return bool(left) and all(
        _went_down_after_check(rec) and rec is not None and rec.pushed_gen == gen and gen % 3 == 2 for rec, gen in left
    )


def _sig_f4(run: Run, v: Violation) -> bool:
    """Under the summed unread test, a close with nothing unread sends a RST because its queue
    held a segment whose payload the application had already read (a retransmission with FIN)."""
    t = _transition(run, v)
    if t is None or not isinstance(t[1], CloseDecide) or t[0].config.unread_test != "len_sum":
        return False
    pre, a, post = t[0], t[1], t[2]
    sock = pre.sockets[a.sk]
    data_end = (sock.rcv_nxt - int(sock.sk_state == "CLOSE_WAIT")) % (1 << 32)
    if _later(data_end, sock.copied_seq) or post.sockets[a.sk].rst_sent == sock.rst_sent:
        return False
    for _, before, act, _ in run.transitions(1, v.step - 1):
        if isinstance(act, PurgeStep) and act.sk == a.sk and before.sockets[a.sk].sk_receive_queue:
            skb = before.skbs[before.sockets[a.sk].sk_receive_queue[0]]
            payload = (skb.end_seq - skb.seq - int(skb.fin)) % (1 << 32)
            data = (skb.end_seq - int(skb.fin)) % (1 << 32)
            if payload and not _later(data, before.sockets[a.sk].copied_seq):
                return True
    return False


def _wedged(s: State) -> list[tuple[int, int]]:
    """The slots no_wedged_slot reports: online CPU, empty list, count at or above a max >= 2."""
    if s.skb_defer_max < 2:
        return []
    return [
        (c.id, node)
        for c in s.cpus
        for node, sl in enumerate(c.defer_slots)
        if c.online and not sl.defer_list and sl.defer_count >= s.skb_defer_max
    ]


@attrs.frozen
class _SlotHistory:
    """What happened to one slot since its last reset: every change of its count was one
    attempt's increment (``consistent``), how many of those fell inside the reset-to-detach window
    and were detached with the list, and the lowest ``skb_defer_max`` any of them saw."""

    consistent: bool
    in_window: int
    lowest_max: int | None


def _slot_history(run: Run, cpu: int, node: int) -> _SlotHistory:
    in_window, lowest, window_open, consistent = 0, None, False, True
    for _, pre, act, post in run.transitions():
        before, after = pre.cpus[cpu].defer_slots[node], post.cpus[cpu].defer_slots[node]
        if after.epoch != before.epoch:  # a reset: the count must start again from 0
            in_window, lowest, window_open, consistent = 0, None, True, after.defer_count == 0
            if before.defer_list and not after.defer_list:  # reset and detach in one step (v2, hotplug)
                window_open = False
            continue
        if after.defer_count == before.defer_count + 1:
            read = _max_read(pre, act)
            lowest = read if lowest is None else min(lowest, read)
            if window_open:
                in_window += 1
        elif after.defer_count != before.defer_count:
            consistent = False
        if window_open and before.defer_list and not after.defer_list:  # the detach closes the window
            window_open = False
    return _SlotHistory(consistent, in_window, lowest)


def _max_read(pre: State, a: Action) -> int:
    """The skb_defer_max the attempt that steps with ``a`` read (its DeferRead step; a write of
    the sysctl may fall between that read and the increment), else the sysctl now."""
    sk, cpu = getattr(a, "sk", None), getattr(a, "cpu", None)
    ctx = None
    if isinstance(sk, int) and pre.sockets[sk].owner is not None:
        ctx = pre.sockets[sk].owner.defer  # type: ignore[union-attr]
    elif isinstance(cpu, int) and pre.cpus[cpu].softirq is not None:
        ctx = pre.cpus[cpu].softirq.defer  # type: ignore[union-attr]
    return ctx.defer_max if ctx is not None and ctx.pc in ("count", "push") else pre.skb_defer_max


def _sig_f5(run: Run, v: Violation) -> bool:
    """Every wedged slot counted, since its last reset, attempts that read a smaller
    skb_defer_max than today's: they fell back and kept their increments."""
    slots = _wedged(run.final) if v.quiescent else []
    hist = [_slot_history(run, c, n) for c, n in slots]
    limit = run.final.skb_defer_max
    return bool(slots) and all(h.consistent and h.lowest_max is not None and h.lowest_max < limit for h in hist)


def _sig_f6(run: Run, v: Violation) -> bool:
    """Every wedged slot, with no smaller maximum involved, got increments between a flush's
    reset and its detach: their skbs left with the detached list and the count stayed."""
    slots = _wedged(run.final) if v.quiescent else []
    limit = run.final.skb_defer_max
    for c, n in slots:
        h = _slot_history(run, c, n)
        if not (h.consistent and h.in_window and (h.lowest_max is None or h.lowest_max >= limit)):
            return False
    return bool(slots)


def _sig_f7(run: Run, v: Violation) -> bool:
    """Under full preemption, every skb this step put on an offline CPU's slot comes from a producer
    whose online check saw the CPU online; the CPU went down between the check and the push."""
    t = _transition(run, v)
    if t is None or run.initial.config.preempt != "full":
        return False
    pre, _, post = t
    bad = [
        after.deferred
        for before, after in zip(pre.skbs, post.skbs, strict=False)
        if after.where[0] == "defer_list" and before.where != after.where and not pre.cpus[int(after.where[1])].online
    ]
    return bool(bad) and all(_went_down_after_check(rec) for rec in bad)


def _sig_f8(run: Run, v: Violation) -> bool:
    """The kicks of the repeated epoch read different values of skb_defer_max: a sysctl write
    fell between the two crossings, each at the kick point of the maximum it read."""
    t = _transition(run, v)
    if t is None:
        return False
    pre, _, post = t
    found = False
    for c_pre, c_post in zip(pre.cpus, post.cpus, strict=True):
        for before, after in zip(c_pre.defer_slots, c_post.defer_slots, strict=True):
            for epoch, _ in after.kicks[len(before.kicks) :]:
                maxima = [m for e, m in after.kicks if e == epoch]
                if len(maxima) > 1:
                    found = True
                    if len(set(maxima)) != len(maxima):
                        return False
    return found


def _later(a: int, b: int) -> bool:
    return 0 < (a - b) % (1 << 32) <= (1 << 31)


def _sig_f10(run: Run, v: Violation) -> bool:
    """Every skb waiting without an allowed reason is on an online CPU with no kick owed, and the
    pushes of its slot epoch read different maxima, none of them at its own kick point, and no
    kick was made in that epoch."""
    if not v.quiescent:
        return False
    s = run.final
    bad = [i for i, why in waiting_reasons(s).items() if why is None]
    for i in bad:
        skb, rec = s.skbs[i], s.skbs[i].deferred
        if rec is None:
            return False
        cpu = s.cpus[skb.alloc_cpu]
        if not cpu.online or cpu.kick_unserved or cpu.net_rx_pending:
            return False
        epoch = [
            r for r in (k.deferred for k in s.skbs if k.alloc_cpu == skb.alloc_cpu) if r is not None
            and (r.node, r.epoch) == (rec.node, rec.epoch)
        ]  # fmt: skip
        kicked = any(e == rec.epoch for e, _ in cpu.defer_slots[rec.node].kicks)
        if kicked or len({r.defer_max for r in epoch}) < 2 or any(r.count == r.defer_max // 2 + 1 for r in epoch):
            return False
    return bool(bad)


def _sig_f11(run: Run, v: Violation) -> bool:
    """Every skb waiting without an allowed reason is on an online CPU with no kick owed, was
    counted in a slot epoch that a reset has since ended and that had its kick, and its count is
    past the kick point of the maximum it read."""
    if not v.quiescent:
        return False
    s = run.final
    bad = [i for i, why in waiting_reasons(s).items() if why is None]
    for i in bad:
        rec = s.skbs[i].deferred
        cpu = s.cpus[s.skbs[i].alloc_cpu]
        if rec is None or not cpu.online or cpu.kick_unserved or cpu.net_rx_pending:
            return False
        slot = cpu.defer_slots[rec.node]
        kicked = any(e == rec.epoch for e, _ in slot.kicks)
        if not (rec.epoch < slot.epoch and kicked and rec.count >= rec.defer_max // 2 + 1):
            return False
    return bool(bad)


def _sig_f9(run: Run, v: Violation) -> bool:
    """Every deferred skb that still holds a reference holds only its zero-copy buffer, on a
    kernel without the zero-copy test."""
    if v.quiescent or not 0 <= v.step < len(run.states) or run.states[v.step].config.zcopy_check:
        return False
    s = run.states[v.step]
    holding = [
        skb
        for skb in s.skbs
        if (skb.where[0] == "defer_list" or (skb.where[0] == "held" and skb.where[1] in ("softirq", "hotplug")))
        and (skb.sk is not None or skb.destructor is not None or skb.zcopy)
    ]
    return bool(holding) and all(skb.zcopy and skb.sk is None and skb.destructor is None for skb in holding)


FINDINGS: dict[str, Finding] = {
    f.id: f
    for f in (
        Finding("F1", "rmem_zero_after_purge", "error-queue skbs stay charged after the purge", _f1, _sig_f1),
        Finding("F2", "kick_leads_to_flush", "a kick into a CPU going offline leaves the IPI guard set", f2, _sig_f2),
        Finding("F3", "dead_cpu_slots_emptied", "a late producer pushes onto a dead CPU's slot", f3, _sig_f3),
        Finding("F4", "rst_iff_data_lost", "the old unread test sends a spurious RST", _f4, _sig_f4),
        Finding("F5", "no_wedged_slot", "after skb_defer_max 0, a slot falls back forever", _f5, _sig_f5),
        Finding("F6", "no_wedged_slot", "the reset window can wedge a slot (max - 1 attempts in it)", _f6, _sig_f6),
        Finding("F7", "no_push_to_offline_cpu", "a producer checked online pushes onto a CPU gone offline", _f7,
                _sig_f7),
        Finding("F8", "one_kick_per_slot_epoch", "a sysctl write mid-epoch gives the epoch a second kick", _f8,
                _sig_f8),
        Finding("F9", "deferred_skb_holds_no_refs", "without 0943404b1f3b a zero-copy skb is deferred", _f9, _sig_f9),
        Finding("F10", "deferred_skbs_freed_or_allowed", "sysctl writes mid-epoch skip the kick point", _f10,
                _sig_f10),
        Finding("F11", "deferred_skbs_freed_or_allowed", "an attempt counted past the kick point lands after the "
                "flush", _f11, _sig_f11),
    )
}  # fmt: skip


def recognise(run: Run, violation: Violation) -> str | None:
    """The known finding whose signature explains ``violation`` in ``run``, or None (a failure)."""
    for f in FINDINGS.values():
        if f.invariant == violation.invariant and f.signature(run, violation):
            return f.id
    return None
