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
1. check: a zero-copy skb (only in kernels with 0943404b1f3b: ``Config.zcopy_check``), or one
   built on this CPU, on an out-of-range CPU or on an offline CPU, is freed now
   (kfree_skb_napi_cache() on this CPU);
2. read: the plain reads made before the increment: ``numa_node_id()`` of this CPU chooses the
   slot, and ``READ_ONCE(skb_defer_max)`` gives the one maximum this attempt uses for both its
   tests (FACTS §14: a migration or a sysctl write can fall between these reads and the
   increment);
3. count: ``c = ++defer_count`` on the chosen slot; if ``c >= max`` free now (the count is not
   given back);
4. push: llist_add() onto the slot's list; from here the skb belongs to the owning CPU;
5. kick: if ``c - 1 == max >> 1``, kick_defer_list_purge(): if ``defer_ipi_scheduled`` can be
   changed from 0 to 1, queue the async IPI. If the target went offline since step 1, the IPI
   call fails (-ENXIO, kernel/smp.c: generic_exec_single()) and nothing clears the flag again.
   Without the guard (before 97e719a82b43, ``Config.ipi_guard``) the kick is two steps: the
   test of the IPI descriptor's lock flag, then locking and queueing it.

defer-v2: check (as above, never with the zero-copy test), then read: ``READ_ONCE`` of the
maximum and the racy pre-check of the count against it (free now if ``count >= max``), then the
locked section (kick decided on the count before this skb, count and list updated together),
then the kick.

Where a task can be stopped (``Config.preempt``): the attempt runs in process context with
preemption enabled. Under full preemption the scheduler may migrate the task between any two of
these steps, and a CPU may go offline between them (the stopper preempts the task); under
PREEMPT_NONE or VOLUNTARY neither happens inside the attempt (spec/system.py: Migrate,
spec/hotplug.py: CpuOffline).

Candidate fixes (model/kernels.py, ``fix-*``). ``Config.defer_test_first`` (fix-F5): the read
step also reads the chosen slot's count and falls back when it is at or above the maximum read,
before any increment, as defer-v2's pre-check does; the count step and its ``c >= max`` test stay,
for producers that pass the pre-check together. The count read is folded into the read step: an
increment or reset landing between the sysctl read and the count read is taken as landing after
both (the pre-check then sees the earlier count; the count step still tests the later one).
``Config.defer_count_below_max`` (fix-F5-increment-below-max): the count step is a cmpxchg loop
that increments only when the new count would stay below the maximum read (the count a push
needs), and falls back otherwise, with nothing added: the test and the increment are one atomic
step, so concurrent fallbacks cannot count either (the pre-check of fix-F5-test-before-increment
can: producers that all pass it at count 0 under skb_defer_max 1 each add one).
``Config.kick_once_per_epoch`` (fix-F8): the increment claims the epoch's kick when the count
before it is at or above half the maximum read (not only at it) and no attempt of the epoch has
claimed it: the slot's ``kicked`` bit, in the same word as the count (one cmpxchg; under defer-v2,
the lock), which every reset of the count (the flush, dev_cpu_dead()) clears with it, as does the
subtraction that replaces the reset with fix-F11 (spec/flush.py). The attempt
that claimed it kicks after its push. (A first version tested and set the bit at the kick step;
the explorer found a kick of an epoch made after the flush's reset, which claimed the next epoch's
bit: the claim must go with the count.)
``Config.flush_subtracts_detached`` (fix-F11, spec/flush.py) changes nothing here: the kick is still
decided on the count the increment returned (the attempt's local); only the ghost ``place`` of a
counted attempt, where the slot's count has it, moves down when a flush subtracts what it detached.
``Config.defer_preempt_off`` (fix-F7): the whole attempt runs with preemption disabled, so a task
is never stopped inside it (spec/hotplug.py, spec/system.py: Migrate), as under PREEMPT_NONE.

Simplifications: the two reads of step 2 are one step (both are plain reads of values no step
of the attempt writes; a write landing between them is the same as one landing before or after
both); under defer-v2 the locked section is one step. The PREEMPT_RT variant (schedule the
backlog thread instead of an IPI, 80d2eefcb4c8) is not modelled.
"""

from __future__ import annotations

from spec import core, rules, skbuff
from spec.actions import DeferCheck, DeferCount, DeferKick, DeferPush, DeferRead
from spec.core import Draft, View
from spec.state import Context, DeferCtx, DeferRecord, FlushCtx, State


def _ctx(state: View, sk: int, *pcs: str) -> tuple[DeferCtx | None, str | None]:
    task = state.sockets[sk].owner
    if task is None or task.defer is None or task.defer.pc not in pcs:
        return None, f"socket {sk}'s task is not at the {'/'.join(pcs)} step of skb_attempt_defer_free()"
    return task.defer, core.task_blocked(state, sk)


# Who runs an attempt: a socket's task (process context: close or recvmsg) or a CPU's NET_RX
# softirq (napi_consume_skb() of a TX completion, e20dfbad8aab, v6.19). The steps below are the
# same for both; only where the attempt's locals live and which CPU runs it differ.


def attempt(state: View, who: Context) -> DeferCtx:
    """The attempt in progress of ``who``."""
    kind, ident = who
    ctx = core.task_of(state, ident).defer if kind == "task" else _softirq(state, ident).defer
    assert ctx is not None
    return ctx


def running_cpu(state: View, who: Context) -> int:
    """The CPU the attempt runs on now (a task may have migrated)."""
    kind, ident = who
    return core.task_of(state, ident).cpu if kind == "task" else ident


def attempts(state: View) -> list[tuple[Context, DeferCtx]]:
    """Every attempt in progress: the sockets' tasks', then the CPUs' NAPI polls'."""
    out: list[tuple[Context, DeferCtx]] = []
    for sock in state.sockets:
        if sock.owner is not None and sock.owner.defer is not None:
            out.append((("task", sock.id), sock.owner.defer))
    for c in state.cpus:
        if c.softirq is not None and c.softirq.defer is not None:
            out.append((("softirq", c.id), c.softirq.defer))
    return out


def set_attempt(state: Draft, who: Context, ctx: DeferCtx | None) -> Draft:
    """Store the attempt's next step; None: the attempt is over (a softirq's NET_RX run with it)."""
    kind, ident = who
    if kind == "task":
        return core.set_task(state, ident, defer=ctx)
    return core.set_cpu(state, ident, softirq=None if ctx is None else core.evolve(_softirq(state, ident), defer=ctx))


def _softirq(state: View, cpu: int) -> FlushCtx:
    ctx = state.cpus[cpu].softirq
    assert ctx is not None
    return ctx


def free_now(state: Draft, who: Context, skb_id: int, reason: str) -> Draft:
    """The nodefer exit: kfree_skb_napi_cache() on the attempt's CPU; the attempt is over."""
    state = skbuff.kfree_skb_napi_cache(state, skb_id, who, running_cpu(state, who), f"nodefer:{reason}")
    return set_attempt(state, who, None)


def guard_defer_check(state: State, a: DeferCheck) -> str | None:
    return _ctx(state, a.sk, "check")[1]


def apply_defer_check(state: Draft, a: DeferCheck) -> Draft:
    return defer_check(state, ("task", a.sk))


def defer_check(state: Draft, who: Context) -> Draft:
    ctx = attempt(state, who)
    skb = state.skbs[ctx.skb]
    cpu = skb.alloc_cpu
    if skb.zcopy and state.config.zcopy_check:
        return free_now(state, who, ctx.skb, "zcopy")
    if cpu == running_cpu(state, who):
        return free_now(state, who, ctx.skb, "same_cpu")
    if cpu >= len(state.cpus):
        return free_now(state, who, ctx.skb, "out_of_range")
    if not state.cpus[cpu].online:
        return free_now(state, who, ctx.skb, "offline")
    gen = state.cpus[cpu].hotplug_gen
    return set_attempt(state, who, core.evolve(ctx, pc="read", cpu=cpu, checked_gen=gen))


def guard_defer_read(state: State, a: DeferRead) -> str | None:
    return _ctx(state, a.sk, "read")[1]


def apply_defer_read(state: Draft, a: DeferRead) -> Draft:
    return defer_read(state, ("task", a.sk))


def defer_read(state: Draft, who: Context) -> Draft:
    ctx = attempt(state, who)
    here = running_cpu(state, who)
    defer_max = state.skb_defer_max
    if state.config.defer == "defer-v6":
        node = state.cpus[here].node
        seen = core.slot(state, ctx.cpu, node).defer_count
        if state.config.defer_test_first and rules.defer_v2_full(seen, defer_max):
            return free_now(state, who, ctx.skb, "full")  # fix-F5: a fallback before the increment
        return set_attempt(state, who, core.evolve(ctx, pc="count", node=node, defer_max=defer_max, read_on=here))
    seen = core.slot(state, ctx.cpu, 0).defer_count
    if rules.defer_v2_full(seen, defer_max):
        return free_now(state, who, ctx.skb, "full")
    return set_attempt(state, who, core.evolve(ctx, pc="push", defer_max=defer_max, read_on=here, seen_count=seen))


def guard_defer_count(state: State, a: DeferCount) -> str | None:
    if state.config.defer != "defer-v6":
        return "defer-v2 has no separate count step"
    return _ctx(state, a.sk, "count")[1]


def apply_defer_count(state: Draft, a: DeferCount) -> Draft:
    return defer_count(state, ("task", a.sk))


def defer_count(state: Draft, who: Context) -> Draft:
    ctx = attempt(state, who)
    count = core.slot(state, ctx.cpu, ctx.node).defer_count + 1
    if state.config.defer_count_below_max and rules.defer_fallback(count, ctx.defer_max):
        return free_now(state, who, ctx.skb, "full")  # fix-F5: the cmpxchg loop does not add the full count
    state = core.set_slot(state, ctx.cpu, ctx.node, defer_count=count)
    if rules.defer_fallback(count, ctx.defer_max):
        return free_now(state, who, ctx.skb, "full")
    slot = core.slot(state, ctx.cpu, ctx.node)
    claimed = _claim(state, ctx.cpu, ctx.node, count - 1, ctx.defer_max)
    nxt = core.evolve(ctx, pc="push", count=count, counted_on=running_cpu(state, who), counted_epoch=slot.epoch,
                      claimed=claimed)  # fmt: skip
    return set_attempt(state, who, nxt)


def _claim(state: Draft, cpu: int, node: int, count_before: int, defer_max: int) -> bool:
    """fix-F8: the increment (v6: one cmpxchg on the count's word; v2: under the lock) also sets
    the slot's kicked bit when the count before it is at or above half the maximum read and the
    bit is clear; True: this attempt kicks. Without the fix: never."""
    if not state.config.kick_once_per_epoch or core.slot(state, cpu, node).kicked:
        return False
    if not rules.defer_kick_at_or_above(count_before, defer_max):
        return False
    core.set_slot(state, cpu, node, kicked=True)
    return True


def guard_defer_push(state: State, a: DeferPush) -> str | None:
    return _ctx(state, a.sk, "push")[1]


def apply_defer_push(state: Draft, a: DeferPush) -> Draft:
    return defer_push(state, ("task", a.sk))


def defer_push(state: Draft, who: Context) -> Draft:
    ctx = attempt(state, who)
    slot = core.slot(state, ctx.cpu, ctx.node)
    v6 = state.config.defer == "defer-v6"
    # v6: the count this attempt's increment returned; v2 (under sd->defer_lock): the count before
    # this skb, which it then counts.
    if state.config.kick_once_per_epoch:  # fix-F8: the kick claimed with the count
        kick = ctx.claimed if v6 else _claim(state, ctx.cpu, ctx.node, slot.defer_count, ctx.defer_max)
    elif v6:
        kick = rules.defer_kick(ctx.count, ctx.defer_max)
    elif state.config.v2_kick_count == "before":
        kick = rules.defer_v2_kick(slot.defer_count, ctx.defer_max)
    else:  # before c09b0cd2cc6c: the count after this skb's increment
        kick = rules.defer_v2_kick_after(slot.defer_count + 1, ctx.defer_max)
    if v6:
        state = core.set_slot(state, ctx.cpu, ctx.node, defer_list=(ctx.skb, *slot.defer_list))
    else:
        state = core.set_slot(
            state,
            ctx.cpu,
            ctx.node,
            defer_count=slot.defer_count + 1,
            defer_list=(ctx.skb, *slot.defer_list),
        )
    record = DeferRecord(
        producer_cpu=ctx.read_on,
        node=ctx.node,
        epoch=ctx.counted_epoch if v6 else slot.epoch,
        count=ctx.count if v6 else slot.defer_count + 1,
        defer_max=ctx.defer_max,
        seen_count=ctx.seen_count,
        counted_cpu=ctx.counted_on if v6 else running_cpu(state, who),
        checked_gen=ctx.checked_gen,
        pushed_gen=state.cpus[ctx.cpu].hotplug_gen,
        place=ctx.place,
    )
    state = core.touch(state, ctx.skb, who, deferred=record)
    state = core.hand(state, ctx.skb, who, ("defer_list", ctx.cpu, ctx.node))
    # The kick step still needs the epoch the count belongs to (ghost, for counting kicks).
    return set_attempt(state, who, core.evolve(ctx, pc="kick", counted_epoch=record.epoch) if kick else None)


def guard_defer_kick(state: State, a: DeferKick) -> str | None:
    return _ctx(state, a.sk, "kick", "csd")[1]


def apply_defer_kick(state: Draft, a: DeferKick) -> Draft:
    return defer_kick(state, ("task", a.sk))


def defer_kick(state: Draft, who: Context) -> Draft:
    ctx = attempt(state, who)
    state = set_attempt(state, who, None)
    if ctx.pc == "csd":
        return queue_defer_csd(state, ctx.cpu)
    slot = core.slot(state, ctx.cpu, ctx.node)
    state = core.set_slot(state, ctx.cpu, ctx.node, kicks=(*slot.kicks, (ctx.counted_epoch, ctx.defer_max)))
    if state.config.ipi_guard:
        return kick_defer_list_purge(state, ctx.cpu)
    # Before 97e719a82b43 the producer calls smp_call_function_single_async() directly: it tests
    # the descriptor's lock flag (set: -EBUSY, nothing sent) and sets it in the next step, so a
    # second kicker can pass the same test in between (kernel/smp.c, v5.18).
    state = core.set_cpu(state, ctx.cpu, kick_unserved=True)
    if csd_locked(state, ctx.cpu):
        return state
    return set_attempt(state, who, core.evolve(ctx, pc="csd"))


def csd_locked(state: View, cpu: int) -> bool:
    """smp_call_function_single_async()'s test of CSD_FLAG_LOCK (kernel/smp.c, v5.18): the
    descriptor is locked from its queueing until the handler starts; a locked one gives -EBUSY."""
    return state.cpus[cpu].ipi_queued > 0


def queue_defer_csd(state: Draft, cpu: int) -> Draft:
    """Lock the target's defer_csd and queue it (kernel/smp.c: generic_exec_single(), v5.18); to an offline target
    the call fails with -ENXIO and unlocks it again. Without the guard, nothing tests that the
    descriptor is not already queued: a second queueing is what 97e719a82b43 prevents."""
    target = state.cpus[cpu]
    return core.set_cpu(state, cpu, ipi_queued=target.ipi_queued + int(target.online))


def kick_defer_list_purge(state: Draft, cpu: int) -> Draft:
    """Claim the target's IPI guard; queue the IPI only if it was clear and the CPU is online."""
    target = state.cpus[cpu]
    state = core.set_cpu(state, cpu, kick_unserved=True)
    if target.defer_ipi_scheduled:
        return state
    return core.set_cpu(state, cpu, defer_ipi_scheduled=True, ipi_queued=target.ipi_queued + int(target.online))
