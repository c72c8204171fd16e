"""CPU hotplug as the defer lists see it.

Mirrors kernel/cpu.c: take_cpu_down() (the CPU is marked offline, then its dying callbacks run,
among them smpcfd_dying_cpu(), which runs the IPIs already queued to it; its tasks are
migrated away), kernel/smp.c: generic_exec_single() (an IPI to an offline CPU fails with -ENXIO),
and net/core/dev.c: dev_cpu_dead(), which runs later on a surviving CPU. Up to v7.3
dev_cpu_dead() leaves the defer slots alone on purpose (68822bdf76f1: the skbs wait until the
CPU returns); 06e3f54e8b22 "net: flush skb_defer_nodes in dev_cpu_dead()" (Sep 2026) empties
them.

Assumption (FACTS §10 marks it unconfirmed; we could not read the patch): with the flush,
dev_cpu_dead() detaches every slot of the dead CPU, resets each count, and frees the skbs on
the surviving CPU with __kfree_skb() (it runs in process context, outside the NAPI cache). It does
not touch ``defer_ipi_scheduled``.

When a CPU can go down (FACTS §14, "taking a CPU down"): the offline step runs under
stop_machine(), so every online CPU must reach its stopper thread first. No CPU is then inside a
softirq (a NET_RX run, with its flush and its NAPI poll, ends before the stopper runs there),
and, unless the kernel is fully preemptible (``Config.preempt`` "full"), no task is inside
skb_attempt_defer_free() and no page_pool_release_retry() walk is between its online test and
its kick: under PREEMPT_NONE and VOLUNTARY process context is not preempted there.

Candidate fixes: with ``Config.defer_preempt_off`` (fix-F7) a producer's attempt is never
preempted, so no CPU goes down inside it on any model; with ``Config.page_pool_cpus_lock``
(fix-F2) page_pool_release_retry() holds cpus_read_lock() over its walk, so no CPU goes down
while the walk is under way. With ``Config.flush_subtracts_detached`` (fix-F11) dev_cpu_dead()
subtracts from each count the skbs it detached, as skb_defer_free_flush() then does (spec/flush.py).

Simplifications: the whole take-down is one step; the surviving CPU that runs dev_cpu_dead()
and takes the tasks is the lowest-numbered online one. Between two steps of a task outside
skb_attempt_defer_free() (between two iterations of the purge loop, say) the spec lets a CPU go
offline under every preemption model: an over-approximation under NONE and VOLUNTARY, where the
task would have to reach a scheduling point first.
"""

from __future__ import annotations

from spec import core, flush, skbuff
from spec.actions import CpuOffline, CpuOnline, DevCpuDead
from spec.core import Draft, View
from spec.state import State


def survivor(state: View, dead: int) -> int:
    """The CPU that takes over from ``dead``: the lowest-numbered other online CPU."""
    return next(c.id for c in state.cpus if c.online and c.id != dead)


def guard_cpu_offline(state: State, a: CpuOffline) -> str | None:
    if state.env.offlines <= 0:
        return "the workload allows no more CPU offline events"
    cpu = state.cpus[a.cpu]
    if not cpu.online:
        return f"CPU {a.cpu} is already offline"
    if not any(c.online and c.id != a.cpu for c in state.cpus):
        return "the last online CPU cannot go offline"
    return stop_machine_blocked(state)


def stop_machine_blocked(state: View) -> str | None:
    """Why stop_machine() cannot run now, if it cannot: some online CPU cannot reach its stopper."""
    for c in state.cpus:
        if c.online and c.softirq is not None:
            return f"CPU {c.id} is in softirq"
    config = state.config
    if core.in_csd_call(state) is not None:
        return f"socket {core.in_csd_call(state)}'s task is inside smp_call_function_single_async() (preemption off)"
    # fix-F7 (defer_preempt_off): the attempt is not preemptible on any model.
    if config.preempt != "full" or config.defer_preempt_off:
        for sock in state.sockets:
            if sock.owner is not None and sock.owner.defer is not None:
                return f"socket {sock.id}'s task is inside skb_attempt_defer_free() (preempt={config.preempt})"
    # fix-F2 (page_pool_cpus_lock): the walk holds cpus_read_lock(), which the take-down waits for.
    if state.page_pool is not None and (config.preempt != "full" or config.page_pool_cpus_lock):
        return f"page_pool_release_retry() is between its online test and its kick (preempt={config.preempt})"
    return None


def apply_cpu_offline(state: Draft, a: CpuOffline) -> Draft:
    cpu = state.cpus[a.cpu]
    core.set_env(state, offlines=state.env.offlines - 1)
    if cpu.ipi_queued:  # smpcfd_dying_cpu(): queued IPIs still run on the dying CPU
        state = core.set_cpu(state, a.cpu, ipi_queued=0, net_rx_pending=True, defer_ipi_scheduled=False)
    to = survivor(state, a.cpu)
    for sock in state.sockets:
        if sock.owner is not None and sock.owner.cpu == a.cpu:
            state = core.set_task(state, sock.id, cpu=to)
    return core.set_cpu(state, a.cpu, online=False, dead_pending=True, hotplug_gen=cpu.hotplug_gen + 1)


def guard_dev_cpu_dead(state: State, a: DevCpuDead) -> str | None:
    if not state.cpus[a.cpu].dead_pending:
        return f"CPU {a.cpu} has not just gone offline"
    return None


def apply_dev_cpu_dead(state: Draft, a: DevCpuDead) -> Draft:
    state = core.set_cpu(state, a.cpu, dead_pending=False, hotplug_gen=state.cpus[a.cpu].hotplug_gen + 1)
    if not state.config.hotplug_flush:
        return state
    on = survivor(state, a.cpu)
    ctx = ("hotplug", a.cpu)
    for node, slot in enumerate(state.cpus[a.cpu].defer_slots):
        if state.config.flush_subtracts_detached and state.config.defer == "defer-v6":  # fix-F11, as the flush
            state = core.set_slot(state, a.cpu, node, defer_list=())
            state = flush.subtract_detached(state, a.cpu, node, slot.defer_list)
        else:
            state = core.set_slot(state, a.cpu, node, defer_list=(), defer_count=0, epoch=slot.epoch + 1,
                                  kicked=False)  # fmt: skip
        for skb_id in slot.defer_list:
            state = core.hand(state, skb_id, ctx, ("held", "hotplug", a.cpu))
            state = skbuff.kfree_skb(state, skb_id, ctx, on, "hotplug_flush")
    return state


def guard_cpu_online(state: State, a: CpuOnline) -> str | None:
    cpu = state.cpus[a.cpu]
    if cpu.online:
        return f"CPU {a.cpu} is online"
    if cpu.dead_pending:
        return f"dev_cpu_dead() has not run for CPU {a.cpu}"
    return None


def apply_cpu_online(state: Draft, a: CpuOnline) -> Draft:
    return core.set_cpu(state, a.cpu, online=True, hotplug_gen=state.cpus[a.cpu].hotplug_gen + 1)
