"""Handing an skb back to the CPU that built it: skb_attempt_defer_free() and the kick.

Mirrors net/core/skbuff.c: skb_attempt_defer_free() and net/core/dev.c:
kick_defer_list_purge(), in two versions:
- defer-v6 (v6.18: 844c9db7f7f5 lock-free list, atomic count incremented first, 5628f3fe3b16
  one slot per (owning CPU, NUMA node of the freeing CPU); the zero-copy test first,
  0943404b1f3b, 2026, in 6.18.y and 6.19.y stable);
- defer-v2 (v5.19-v6.17: 68822bdf76f1 one list per CPU under a spinlock, 39564c3fdc66,
  97e719a82b43 the IPI guard, Kicinski's max==1 fix): the count is read before the lock, then
  compared, kicked on and incremented under it.

Theory of operation (defer-v6). The steps, between any two of which another CPU may act:
1. check: a zero-copy skb, or one built on this CPU, on an out-of-range CPU or on an offline
   CPU, is freed now (kfree_skb_napi_cache() on this CPU);
2. count: read ``skb_defer_max``, choose the slot of this CPU's node, ``c = ++defer_count``;
   if ``c >= max`` free now (the count is not given back);
3. push: llist_add() onto the slot's list; from here the skb belongs to the owning CPU;
4. kick: if ``c - 1 == max >> 1``, kick_defer_list_purge(): if ``defer_ipi_scheduled`` can be
   changed from 0 to 1, queue the async IPI. If the target went offline since step 1, the IPI
   call fails (-ENXIO, kernel/smp.c: generic_exec_single()) and nothing clears the flag again.

Simplifications: reading the sysctl, the node and the increment are one step (all are
reads/one atomic on data private to the attempt); under defer-v2 the online check and the racy
count read are one step, and the locked section is one step. The PREEMPT_RT variant (schedule
the backlog thread instead of an IPI, 80d2eefcb4c8) is not modelled.
"""

from __future__ import annotations

from spec import core, rules, skbuff
from spec.actions import DeferCheck, DeferCount, DeferKick, DeferPush
from spec.core import Draft, View
from spec.state import DeferCtx, DeferRecord, State


def _ctx(state: View, sk: int, pc: str) -> tuple[DeferCtx | None, str | None]:
    task = state.sockets[sk].owner
    if task is None or task.defer is None or task.defer.pc != pc:
        return None, f"socket {sk}'s task is not at the {pc} step of skb_attempt_defer_free()"
    return task.defer, core.task_blocked(state, sk)


def free_now(state: Draft, sk: int, skb_id: int, reason: str) -> Draft:
    """The nodefer exit: kfree_skb_napi_cache() on the task's CPU; the attempt is over."""
    cpu = core.task_of(state, sk).cpu
    state = skbuff.kfree_skb_napi_cache(state, skb_id, ("task", sk), cpu, f"nodefer:{reason}")
    return core.set_task(state, sk, defer=None)


def guard_defer_check(state: State, a: DeferCheck) -> str | None:
    return _ctx(state, a.sk, "check")[1]


def apply_defer_check(state: Draft, a: DeferCheck) -> Draft:
    task = core.task_of(state, a.sk)
    ctx = task.defer
    assert ctx is not None
    skb = state.skbs[ctx.skb]
    cpu = skb.alloc_cpu
    if skb.zcopy:
        return free_now(state, a.sk, ctx.skb, "zcopy")
    if cpu == task.cpu:
        return free_now(state, a.sk, ctx.skb, "same_cpu")
    if cpu >= len(state.cpus):
        return free_now(state, a.sk, ctx.skb, "out_of_range")
    if not state.cpus[cpu].online:
        return free_now(state, a.sk, ctx.skb, "offline")
    gen = state.cpus[cpu].hotplug_gen
    if state.config.defer == "defer-v6":
        return core.set_task(state, a.sk, defer=core.evolve(ctx, pc="count", cpu=cpu, checked_gen=gen))
    defer_max = state.skb_defer_max
    if rules.defer_v2_full(core.slot(state, cpu, 0).defer_count, defer_max):
        return free_now(state, a.sk, ctx.skb, "full")
    nxt = core.evolve(ctx, pc="push", cpu=cpu, defer_max=defer_max, checked_gen=gen)
    return core.set_task(state, a.sk, defer=nxt)


def guard_defer_count(state: State, a: DeferCount) -> str | None:
    if state.config.defer != "defer-v6":
        return "defer-v2 has no separate count step"
    return _ctx(state, a.sk, "count")[1]


def apply_defer_count(state: Draft, a: DeferCount) -> Draft:
    task = core.task_of(state, a.sk)
    ctx = task.defer
    assert ctx is not None
    node = state.cpus[task.cpu].node
    defer_max = state.skb_defer_max
    count = core.slot(state, ctx.cpu, node).defer_count + 1
    state = core.set_slot(state, ctx.cpu, node, defer_count=count)
    if rules.defer_fallback(count, defer_max):
        return free_now(state, a.sk, ctx.skb, "full")
    nxt = core.evolve(
        ctx,
        pc="push",
        node=node,
        count=count,
        defer_max=defer_max,
        counted_on=task.cpu,
        counted_epoch=core.slot(state, ctx.cpu, node).epoch,
    )
    return core.set_task(state, a.sk, defer=nxt)


def guard_defer_push(state: State, a: DeferPush) -> str | None:
    return _ctx(state, a.sk, "push")[1]


def apply_defer_push(state: Draft, a: DeferPush) -> Draft:
    ctx = core.task_of(state, a.sk).defer
    assert ctx is not None
    slot = core.slot(state, ctx.cpu, ctx.node)
    if state.config.defer == "defer-v6":
        kick = rules.defer_kick(ctx.count, ctx.defer_max)
        state = core.set_slot(state, ctx.cpu, ctx.node, defer_list=(ctx.skb, *slot.defer_list))
    else:  # under sd->defer_lock: decide the kick on the count before this skb, then count it
        kick = rules.defer_v2_kick(slot.defer_count, ctx.defer_max)
        state = core.set_slot(
            state,
            ctx.cpu,
            ctx.node,
            defer_count=slot.defer_count + 1,
            defer_list=(ctx.skb, *slot.defer_list),
        )
    v6 = state.config.defer == "defer-v6"
    record = DeferRecord(
        producer_cpu=ctx.counted_on if v6 else core.task_of(state, a.sk).cpu,
        node=ctx.node,
        epoch=ctx.counted_epoch if v6 else slot.epoch,
        count=ctx.count if v6 else slot.defer_count + 1,
        defer_max=ctx.defer_max,
        checked_gen=ctx.checked_gen,
        pushed_gen=state.cpus[ctx.cpu].hotplug_gen,
    )
    state = core.touch(state, ctx.skb, ("task", a.sk), deferred=record)
    state = core.hand(state, ctx.skb, ("task", a.sk), ("defer_list", ctx.cpu, ctx.node))
    # The kick step still needs the epoch the count belongs to (ghost, for counting kicks).
    nxt = core.evolve(ctx, pc="kick", counted_epoch=record.epoch) if kick else None
    return core.set_task(state, a.sk, defer=nxt)


def guard_defer_kick(state: State, a: DeferKick) -> str | None:
    return _ctx(state, a.sk, "kick")[1]


def apply_defer_kick(state: Draft, a: DeferKick) -> Draft:
    ctx = core.task_of(state, a.sk).defer
    assert ctx is not None
    state = core.set_task(state, a.sk, defer=None)
    slot = core.slot(state, ctx.cpu, ctx.node)
    state = core.set_slot(state, ctx.cpu, ctx.node, kicks=(*slot.kicks, (ctx.counted_epoch, ctx.defer_max)))
    return kick_defer_list_purge(state, ctx.cpu)


def kick_defer_list_purge(state: Draft, cpu: int) -> Draft:
    """Claim the target's IPI guard; queue the IPI only if it was clear and the CPU is online."""
    target = state.cpus[cpu]
    state = core.set_cpu(state, cpu, kick_unserved=True)
    if target.defer_ipi_scheduled:
        return state
    return core.set_cpu(state, cpu, defer_ipi_scheduled=True, ipi_queued=target.ipi_queued + int(target.online))
