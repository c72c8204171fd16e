"""Small helpers every mechanism uses to build the next state: replace one socket, CPU, slot or
skb, and the skb lifecycle primitives (touch, free) that make a double free or a write after
hand-off visible in the state instead of raising.

Not a kernel mechanism: the plumbing of the transition system.
"""

from __future__ import annotations

from typing import Any

import attrs

from spec import rules
from spec.state import Context, Cpu, DeferSlot, FreeEvent, Skb, Sock, State, Task


class SpecError(Exception):
    """A state or action the spec cannot interpret (malformed input, not a kernel promise)."""


def set_sock(state: State, sk: int, **changes: Any) -> State:
    socks = list(state.sockets)
    socks[sk] = attrs.evolve(socks[sk], **changes)
    return attrs.evolve(state, sockets=tuple(socks))


def set_task(state: State, sk: int, **changes: Any) -> State:
    task = state.sockets[sk].owner
    assert task is not None
    return set_sock(state, sk, owner=attrs.evolve(task, **changes))


def set_cpu(state: State, cpu: int, **changes: Any) -> State:
    cpus = list(state.cpus)
    cpus[cpu] = attrs.evolve(cpus[cpu], **changes)
    return attrs.evolve(state, cpus=tuple(cpus))


def set_slot(state: State, cpu: int, node: int, **changes: Any) -> State:
    slots = list(state.cpus[cpu].defer_slots)
    slots[node] = attrs.evolve(slots[node], **changes)
    return set_cpu(state, cpu, defer_slots=tuple(slots))


def slot(state: State, cpu: int, node: int) -> DeferSlot:
    return state.cpus[cpu].defer_slots[node]


def task_of(state: State, sk: int) -> Task:
    task = state.sockets[sk].owner
    assert task is not None
    return task


def holds(skb: Skb, ctx: Context) -> bool:
    """Whether ``ctx`` may write the skb now: it was handed to ``ctx``; or it is queued on a
    socket and ``ctx`` is that socket's task (which holds the socket lock); or it is on a defer
    slot and ``ctx`` is the owning CPU's flush (softirq, or dev_cpu_dead() acting for it)."""
    where, (kind, ident) = skb.where, ctx
    if where[0] == "held":
        return where[1] == kind and where[2] == ident
    if where[0] in ("rcv_queue", "err_queue"):
        return kind == "task" and where[1] == ident
    if where[0] == "defer_list":
        return kind in ("softirq", "hotplug") and where[1] == ident
    return False


def touch(state: State, skb_id: int, ctx: Context, **changes: Any) -> State:
    """Write fields of an skb on behalf of ``ctx``; a writer that does not hold it is recorded."""
    skb = state.skbs[skb_id]
    if not holds(skb, ctx):
        changes["stray_touches"] = (*skb.stray_touches, ctx)
    skbs = list(state.skbs)
    skbs[skb_id] = attrs.evolve(skb, **changes)
    return attrs.evolve(state, skbs=tuple(skbs))


def hand(state: State, skb_id: int, ctx: Context, where: tuple[str | int, ...]) -> State:
    """``ctx`` hands (or, for a new skb, places) an skb somewhere; after this it no longer holds it."""
    return touch(state, skb_id, ctx, where=where)


def per_cpu_fw_alloc_add(state: State, cpu: int, pages: int) -> State:
    """sk_memory_allocated_add()/sub() (include/net/proto_memory.h, v6.18): change this CPU's
    cached share, and fold it into ``memory_allocated`` once it reaches ``mem_pcpu_rsv`` either way.
    Simplification: the add and the fold are one step (the kernel's this_cpu_xchg then atomic add
    leaves the pages briefly in neither counter)."""
    local = state.cpus[cpu].per_cpu_fw_alloc + pages
    if rules.pcpu_drains(local, state.config.mem_pcpu_rsv):
        state = attrs.evolve(state, memory_allocated=state.memory_allocated + local)
        local = 0
    return set_cpu(state, cpu, per_cpu_fw_alloc=local)


def napi_cache_put(state: State, cpu: int) -> State:
    """napi_skb_cache_put() (net/core/skbuff.c, v6.18): the head joins this CPU's NAPI cache;
    a full cache hands ``napi_cache_bulk`` heads back to the slab in one bulk free."""
    count = state.cpus[cpu].napi_skb_cache + 1
    count -= rules.napi_cache_bulk(count, state.config.napi_cache_size, state.config.napi_cache_bulk)
    return set_cpu(state, cpu, napi_skb_cache=count)


def free_skb(state: State, skb_id: int, ctx: Context, cpu: int, how: str, *, napi: bool) -> State:
    """Free an skb's memory on ``cpu``: into the NAPI cache (``napi``) or straight to the slab.
    Records the free in the skb's lifecycle, so a second free is visible, not an error."""
    skb = state.skbs[skb_id]
    state = touch(state, skb_id, ctx, where=("freed",), frees=(*skb.frees, FreeEvent(cpu, how)))
    if napi and not skb.fclone:
        state = napi_cache_put(state, cpu)
    return state


def unlink(state: State, sk: int, skb_id: int) -> State:
    """__skb_unlink() from the receive queue: the task now holds the skb."""
    sock: Sock = state.sockets[sk]
    queue = sock.sk_receive_queue
    if not queue or queue[0] != skb_id:
        raise SpecError(f"skb {skb_id} is not at the head of socket {sk}'s receive queue")
    state = set_sock(state, sk, sk_receive_queue=queue[1:])
    return hand(state, skb_id, ("task", sk), ("held", "task", sk))


def cpu_of(state: State, cpu: int) -> Cpu:
    return state.cpus[cpu]


def task_blocked(state: State, sk: int) -> str | None:
    """Why socket ``sk``'s task cannot take a step now, if it cannot: it needs its CPU online and
    not busy in softirq (a softirq runs to completion before process context resumes there)."""
    task = state.sockets[sk].owner
    if task is None:
        return "the socket has no task"
    cpu = state.cpus[task.cpu]
    if not cpu.online:
        return f"the task's CPU {task.cpu} is offline"
    if cpu.softirq is not None:
        return f"CPU {task.cpu} is running a softirq"
    return None
