"""The owning CPU's side: the defer IPI, NET_RX, and skb_defer_free_flush().

Mirrors net/core/dev.c: trigger_rx_softirq() (the IPI handler), net_rx_action() (flushes at the
top of every iteration, f3412b3879b4, 909876500251 v5.19) and skb_defer_free_flush() (v6.18:
per node slot; v6.17: one list under the lock); net/core/skbuff.c: napi_consume_skb()
(2db60eed1a95).

Theory of operation. The IPI handler raises NET_RX on its CPU and then clears
``defer_ipi_scheduled``. NET_RX runs when it is pending (raised by the IPI or by unrelated
traffic, SoftirqStart) and whenever a packet arrives on the CPU (PacketArrives): every NAPI poll,
including the one that delivers a received packet, comes after a flush of this CPU's slots
(FACTS §14, "who flushes"). The flush visits every node slot of this CPU: an empty list is
skipped; otherwise (defer-v6) the count is set to 0, *then* the whole list is detached with an
atomic exchange, then each skb is freed here into the NAPI cache. A producer acting between the
reset and the detach makes the count an over-estimate; one that counted before the reset and
pushes after the detach leaves an uncounted skb (FACTS §9). Under defer-v2 the detach and the
reset are one locked step. When the flush is over, a run started by a packet builds that packet's
skb (spec/receive.py: napi_poll_rx) and ends.

TX completions (v6.19, e20dfbad8aab; FACTS §14 "a second producer"). A run started by a TX
completion (TxComplete) polls, after its flush, a TX skb built on another CPU: napi_consume_skb()
releases its head state (the sender's destructor) and, with ``Config.napi_consume_defers``, hands
it to skb_attempt_defer_free() (spec/defer.py) from this softirq: the same steps as a task's
attempt, one NapiConsumeSkb step each, interleaved with other CPUs' steps but never preempted,
migrated, or cut by a CPU going offline (no CPU goes down while one is in softirq). The run ends
with the attempt. Without the switch the skb is freed here (napi_skb_cache_put(), a remote
head in this CPU's NAPI cache).

Candidate fixes of F6 (model/kernels.py). ``Config.flush_detach_first`` (fix-F6-detach-before-reset):
the flush detaches the list, then resets the count, then frees; a producer counting between the
two pushes onto the new list and its increment is wiped by the reset (the count under-estimates
the list until the next flush, instead of over-estimating an empty one). ``Config.flush_resets_empty``
(the candidate fix-F6-flush-resets-empty): a flush that finds a slot's list empty resets its count
anyway (folded into the empty test's step: the patch would reset before the test, and a producer
landing between the two is the reset window the spec has already).

``Config.flush_subtracts_detached`` (fix-F11-flush-subtracts-detached, with the detach first): the
reset step becomes an atomic subtraction of the number of skbs the flush detached (the kernel
counts them while freeing them; the free is private to this CPU, so the subtraction is taken
before it), in one update that also clears fix-F8's kicked bit. With fix-F5-increment-below-max
(no fallback counts), the count then stays the number of skbs on the list plus the attempts
counted and not yet pushed: an attempt counted before the detach and pushed after it (the F11
straggler) stays counted. The ghost follows the count: ``epoch`` still advances (a new kick
point is owed from here), and every attempt the count still holds (counted and not pushed, or
pushed after the detach) has its ``place`` moved down by the detached skbs counted before it,
which is where the remaining count has it. Its kick is still decided on the count its increment
returned. dev_cpu_dead()'s flush (spec/hotplug.py) subtracts the same way.

Simplifications, each a step folded into its neighbour because it commutes with every other
CPU's step:
- the empty test of a slot is made by the step that reaches the slot (the run's start, or the
  free of the slot before it): it reads one list head and changes only this CPU's program
  counter, and a push landing just after it is the same as one landing after that step. So a
  run over empty slots is one step, and a packet arriving on a CPU with empty slots is one step
  (exactly the arrival of a spec without the arrival flush);
- the NAPI poll that builds the arriving packet is made by the step that ends the flush: it
  touches the socket (not owned: no system call starts on it while its packet is in NET_RX,
  spec/core.py) and this CPU's own caches only;
- freeing the detached batch is one step (it is private to this CPU).
The reset, a step of its own, tests nothing again: the list it found non-empty only grows until
this CPU detaches it (no CPU goes offline while one is in softirq, spec/hotplug.py). A NET_RX
run does no other work; a TX skb comes into being at its completion (its life on the send path
is not modelled, and its truesize is fixed). Unrelated traffic is the environment action
RaiseNetRx.
"""

from __future__ import annotations

import bisect
from typing import Literal

from spec import core, defer, receive, skbuff
from spec.actions import (
    FlushDetach,
    FlushFree,
    FlushReset,
    IpiDeliver,
    NapiConsumeSkb,
    RaiseNetRx,
    SoftirqStart,
    TxComplete,
)
from spec.core import Draft, View
from spec.state import DeferCtx, FlushCtx, Incoming, State


def nr_slots(state: View) -> int:
    """Slots a flush visits: one per node under defer-v6, the single per-CPU list under v2."""
    return state.nodes if state.config.defer == "defer-v6" else 1


def first_pc(state: View) -> Literal["reset", "detach"]:
    """defer-v6 resets the count first; defer-v2, and defer-v6 with fix-F6
    (``Config.flush_detach_first``), detach first."""
    return "reset" if state.config.defer == "defer-v6" and not state.config.flush_detach_first else "detach"


def guard_ipi_deliver(state: State, a: IpiDeliver) -> str | None:
    cpu = state.cpus[a.cpu]
    if not cpu.ipi_queued:
        return f"no IPI is queued for CPU {a.cpu}"
    if not cpu.online:
        return f"CPU {a.cpu} is offline"
    return None


def apply_ipi_deliver(state: Draft, a: IpiDeliver) -> Draft:
    cpu = state.cpus[a.cpu]
    return core.set_cpu(state, a.cpu, ipi_queued=cpu.ipi_queued - 1, net_rx_pending=True, defer_ipi_scheduled=False)


def guard_softirq_start(state: State, a: SoftirqStart) -> str | None:
    cpu = state.cpus[a.cpu]
    if not cpu.net_rx_pending:
        return f"NET_RX is not pending on CPU {a.cpu}"
    if not cpu.online:
        return f"CPU {a.cpu} is offline"
    if cpu.softirq is not None:
        return f"NET_RX is already running on CPU {a.cpu}"
    return None


def apply_softirq_start(state: Draft, a: SoftirqStart) -> Draft:
    return net_rx_action(state, a.cpu, None)


def net_rx_action(state: Draft, cpu: int, rx_sk: int | None, tx_cpu: int | None = None) -> Draft:
    """A NET_RX run starts on ``cpu`` (the pending bit is served) and its flush reaches the first
    slot; ``rx_sk``: the socket whose packet the run's NAPI poll delivers after the flush;
    ``tx_cpu``: the CPU that built the TX skb the poll completes.

    Before 909876500251 (``Config.flush_before_poll`` False) the run polls first and flushes once
    at its end; before f3412b3879b4 as well (``Config.idle_run_flushes`` False) a run with no
    NAPI to poll (one raised by the IPI or by RaiseNetRx, simplified: no unrelated NAPI work)
    returns before that flush (net/core/dev.c: net_rx_action(), v5.18 + 68822bdf76f1)."""
    state = core.set_cpu(state, cpu, net_rx_pending=False)
    if state.config.flush_before_poll:
        state = core.set_cpu(state, cpu, kick_unserved=False)
        return _enter_slot(state, cpu, 0, rx_sk, tx_cpu)
    polled = rx_sk is not None or tx_cpu is not None
    if rx_sk is not None:
        state = receive.napi_poll_rx(state, rx_sk)
    if tx_cpu is not None:  # boot() refuses the TX producer here: it frees at once
        state = napi_consume_tx(state, cpu, tx_cpu)
    if not polled and not state.config.idle_run_flushes:
        return state  # the stray return: no flush, so a kick is not served
    state = core.set_cpu(state, cpu, kick_unserved=False)
    return _enter_slot(state, cpu, 0, None)


def _enter_slot(state: Draft, cpu: int, node: int, rx_sk: int | None, tx_cpu: int | None = None) -> Draft:
    """The flush reaches slot ``node``: skip the empty slots from there (the empty test); stop at
    the first that holds skbs, or, past the last, poll (build ``rx_sk``'s packet, or complete the
    TX skb built on ``tx_cpu``) and end the run (unless the TX skb's defer attempt goes on)."""
    while node < nr_slots(state):
        slot = core.slot(state, cpu, node)
        if slot.defer_list:
            ctx = FlushCtx(node=node, pc=first_pc(state), rx_sk=rx_sk, tx_cpu=tx_cpu)
            return core.set_cpu(state, cpu, softirq=ctx)
        if state.config.flush_resets_empty and slot.defer_count:  # the F6 candidate: reset an empty slot too
            state = core.set_slot(state, cpu, node, defer_count=0, epoch=slot.epoch + 1, kicked=False)
        node += 1
    state = core.set_cpu(state, cpu, softirq=None)  # the flush is over; so is the run after its poll
    if rx_sk is not None:
        state = receive.napi_poll_rx(state, rx_sk)
    if tx_cpu is not None:
        state = napi_consume_tx(state, cpu, tx_cpu)
    return state


def napi_consume_tx(state: Draft, cpu: int, tx_cpu: int) -> Draft:
    """The poll completes a TX skb built on ``tx_cpu`` (its head state already released: no
    socket, no destructor): napi_consume_skb() defers it (e20dfbad8aab) or frees it here."""
    tx = Incoming(cpu=tx_cpu, length=0, truesize=768)
    ctx = ("softirq", cpu)
    state, skb_id = skbuff.alloc_skb(state, -1, tx, 0, 0, ctx)
    if not state.config.napi_consume_defers or tx_cpu == cpu:
        return skbuff.napi_consume_skb(state, skb_id, ctx, cpu, "tx_complete")
    return core.set_cpu(state, cpu, softirq=FlushCtx(pc="consume", defer=DeferCtx(skb=skb_id)))


def guard_tx_complete(state: State, a: TxComplete) -> str | None:
    pending = state.env.tx_completions
    if not pending or pending[0][1] != a.cpu:
        return f"no TX completion for CPU {a.cpu} is next in the workload"
    cpu = state.cpus[a.cpu]
    if not cpu.online or cpu.softirq is not None:
        return f"CPU {a.cpu} is not free to run NET_RX"
    return None


def apply_tx_complete(state: Draft, a: TxComplete) -> Draft:
    tx_cpu = state.env.tx_completions[0][0]
    core.set_env(state, tx_completions=state.env.tx_completions[1:])
    return net_rx_action(state, a.cpu, None, tx_cpu)


_CONSUME_STEP = {
    "check": defer.defer_check,
    "read": defer.defer_read,
    "count": defer.defer_count,
    "push": defer.defer_push,
    "kick": defer.defer_kick,
    "csd": defer.defer_kick,
}


def guard_napi_consume_skb(state: State, a: NapiConsumeSkb) -> str | None:
    ctx = state.cpus[a.cpu].softirq
    if ctx is None or ctx.pc != "consume" or ctx.defer is None:
        return f"CPU {a.cpu}'s NAPI poll is not inside skb_attempt_defer_free()"
    if state.config.defer == "defer-v2" and ctx.defer.pc == "count":
        return "defer-v2 has no separate count step"
    return None


def apply_napi_consume_skb(state: Draft, a: NapiConsumeSkb) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None and ctx.defer is not None
    return _CONSUME_STEP[ctx.defer.pc](state, ("softirq", a.cpu))


def _flush(state: View, cpu: int, pc: str) -> tuple[FlushCtx | None, str | None]:
    ctx = state.cpus[cpu].softirq
    if ctx is None or ctx.pc != pc:
        return None, f"CPU {cpu}'s flush is not at its {pc} step"
    return ctx, None


def _next_slot(state: Draft, cpu: int, ctx: FlushCtx) -> Draft:
    return _enter_slot(state, cpu, ctx.node + 1, ctx.rx_sk, ctx.tx_cpu)


def guard_flush_reset(state: State, a: FlushReset) -> str | None:
    if state.config.defer != "defer-v6":
        return "defer-v2 resets the count in the detach step"
    return _flush(state, a.cpu, "reset")[1]


def apply_flush_reset(state: Draft, a: FlushReset) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    slot = core.slot(state, a.cpu, ctx.node)
    if state.config.flush_subtracts_detached:  # fix-F11: subtract what was detached
        state = subtract_detached(state, a.cpu, ctx.node, ctx.batch)
    else:
        state = core.set_slot(state, a.cpu, ctx.node, defer_count=0, epoch=slot.epoch + 1, kicked=False)
    after = "free" if state.config.flush_detach_first else "detach"  # fix-F6: the list is already detached
    return core.set_cpu(state, a.cpu, softirq=core.evolve(ctx, pc=after))


def subtract_detached(state: Draft, cpu: int, node: int, detached: tuple[int, ...]) -> Draft:
    """fix-F11: one atomic update of slot (cpu, node)'s count word takes away the ``detached``
    skbs and clears fix-F8's kicked bit (a cmpxchg loop; net/core/dev.c: skb_defer_free_flush(),
    v6.18, patched). Ghost: a new epoch, and each attempt the count still holds keeps its order
    in the count, moved down by the detached skbs counted before it."""
    gone = sorted(rec.position for i in detached if (rec := state.skbs[i].deferred) is not None)

    def moved(position: int) -> int:
        return position - bisect.bisect_left(gone, position)

    slot = core.slot(state, cpu, node)
    state = core.set_slot(state, cpu, node, defer_count=slot.defer_count - len(detached), epoch=slot.epoch + 1,
                          kicked=False)  # fmt: skip
    for i in slot.defer_list:  # pushed after the detach
        rec = state.skbs[i].deferred
        assert rec is not None
        state.skbs[i] = core.evolve(state.skbs[i], deferred=core.evolve(rec, place=moved(rec.position)))
    for who, att in defer.attempts(state):
        if att.pc == "push" and (att.cpu, att.node) == (cpu, node):  # counted, not yet pushed
            at = att.place if att.place >= 0 else att.count
            state = defer.set_attempt(state, who, core.evolve(att, place=moved(at)))
    return state


def guard_flush_detach(state: State, a: FlushDetach) -> str | None:
    return _flush(state, a.cpu, "detach")[1]


def apply_flush_detach(state: Draft, a: FlushDetach) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    slot = core.slot(state, a.cpu, ctx.node)
    if state.config.defer == "defer-v2":  # under the lock: detach and reset together
        state = core.set_slot(state, a.cpu, ctx.node, defer_count=0, epoch=slot.epoch + 1, kicked=False)
    state = core.set_slot(state, a.cpu, ctx.node, defer_list=())
    for skb_id in slot.defer_list:
        state = core.hand(state, skb_id, ("softirq", a.cpu), ("held", "softirq", a.cpu))
    after = "reset" if state.config.defer == "defer-v6" and state.config.flush_detach_first else "free"
    return core.set_cpu(state, a.cpu, softirq=core.evolve(ctx, pc=after, batch=slot.defer_list))


def guard_flush_free(state: State, a: FlushFree) -> str | None:
    return _flush(state, a.cpu, "free")[1]


def apply_flush_free(state: Draft, a: FlushFree) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    for skb_id in ctx.batch:
        state = skbuff.napi_consume_skb(state, skb_id, ("softirq", a.cpu), a.cpu, "flush")
    return _next_slot(state, a.cpu, ctx)


def guard_raise_net_rx(state: State, a: RaiseNetRx) -> str | None:
    if state.env.netrx_raises <= 0:
        return "the workload allows no more unrelated NET_RX activity"
    cpu = state.cpus[a.cpu]
    if not cpu.online or cpu.net_rx_pending:
        return f"CPU {a.cpu} is offline or already has NET_RX pending"
    return None


def apply_raise_net_rx(state: Draft, a: RaiseNetRx) -> Draft:
    core.set_env(state, netrx_raises=state.env.netrx_raises - 1)
    return core.set_cpu(state, a.cpu, net_rx_pending=True)
