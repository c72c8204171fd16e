"""Small helpers every mechanism uses to build the next state: replace one socket, CPU, slot or
skb, and the skb lifecycle primitives (touch, free) that make a double free or a write after
hand-off visible in the state instead of raising.

Not a kernel mechanism: the plumbing of the transition system.
"""

from __future__ import annotations

from typing import Any, TypeVar

from spec import rules
from spec.state import Config, Context, Cpu, DeferSlot, Env, FreeEvent, PagePoolWork, Skb, Sock, State, Task

T = TypeVar("T")
_HASH_CACHE = "_attrs_cached_hash"  # where attrs keeps a cache_hash=True record's hash


def evolve(inst: T, **changes: Any) -> T:
    """A copy of a frozen record with some fields changed (a fast attrs.evolve for the
    ``slots=False`` records of spec/state.py; unknown field names are refused)."""
    fields = inst.__dict__
    if not changes.keys() <= fields.keys():
        raise TypeError(f"{type(inst).__name__} has no field {sorted(changes.keys() - fields.keys())}")
    new = object.__new__(type(inst))
    new.__dict__.update(fields)
    new.__dict__.update(changes)
    # The records cache their hash (cache_hash=True: a state shares most records with its
    # parent, so hashing it rehashes only what the step replaced); the copy must not inherit it.
    if _HASH_CACHE in fields:
        new.__dict__[_HASH_CACHE] = None
    return new


class SpecError(Exception):
    """A state or action the spec cannot interpret (malformed input, not a kernel promise)."""


class Draft:
    """The next state while one step builds it: the changed records are replaced in mutable
    lists, so each record a step touches is copied once, and ``freeze`` makes the new State.
    A Draft never escapes ``step``: the transition system stays pure."""

    __slots__ = ("config", "cpus", "env", "memory_allocated", "page_pool", "skb_defer_max", "skbs", "sockets")

    def __init__(self, state: State) -> None:
        self.config: Config = state.config
        self.skb_defer_max: int = state.skb_defer_max
        self.cpus: list[Cpu] = list(state.cpus)
        self.sockets: list[Sock] = list(state.sockets)
        self.skbs: list[Skb] = list(state.skbs)
        self.memory_allocated: int = state.memory_allocated
        self.env: Env = state.env
        self.page_pool: PagePoolWork | None = state.page_pool

    @property
    def nodes(self) -> int:
        return len(self.cpus[0].defer_slots)

    def freeze(self, base: State) -> State:
        return evolve(
            base,
            skb_defer_max=self.skb_defer_max,
            cpus=tuple(self.cpus),
            sockets=tuple(self.sockets),
            skbs=tuple(self.skbs),
            memory_allocated=self.memory_allocated,
            env=self.env,
            page_pool=self.page_pool,
        )


# What the read-only helpers accept: a state, or a draft in the middle of a step.
View = State | Draft


def set_sock(state: Draft, sk: int, **changes: Any) -> Draft:
    state.sockets[sk] = evolve(state.sockets[sk], **changes)
    return state


def set_task(state: Draft, sk: int, **changes: Any) -> Draft:
    task = state.sockets[sk].owner
    assert task is not None
    return set_sock(state, sk, owner=evolve(task, **changes))


def set_cpu(state: Draft, cpu: int, **changes: Any) -> Draft:
    state.cpus[cpu] = evolve(state.cpus[cpu], **changes)
    return state


def set_slot(state: Draft, cpu: int, node: int, **changes: Any) -> Draft:
    slots = list(state.cpus[cpu].defer_slots)
    slots[node] = evolve(slots[node], **changes)
    return set_cpu(state, cpu, defer_slots=tuple(slots))


def set_env(state: Draft, **changes: Any) -> Draft:
    state.env = evolve(state.env, **changes)
    return state


def slot(state: View, cpu: int, node: int) -> DeferSlot:
    return state.cpus[cpu].defer_slots[node]


def task_of(state: View, sk: int) -> Task:
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


def touch(state: Draft, skb_id: int, ctx: Context, **changes: Any) -> Draft:
    """Write fields of an skb on behalf of ``ctx``; a writer that does not hold it is recorded."""
    skb = state.skbs[skb_id]
    if not holds(skb, ctx):
        changes["stray_touches"] = (*skb.stray_touches, ctx)
    state.skbs[skb_id] = evolve(skb, **changes)
    return state


def hand(state: Draft, skb_id: int, ctx: Context, where: tuple[str | int, ...]) -> Draft:
    """``ctx`` hands (or, for a new skb, places) an skb somewhere; after this it no longer holds it."""
    return touch(state, skb_id, ctx, where=where)


def per_cpu_fw_alloc_add(state: Draft, cpu: int, pages: int) -> Draft:
    """sk_memory_allocated_add()/sub() (include/net/proto_memory.h, v6.18): change this CPU's
    cached share, and fold it into ``memory_allocated`` once it reaches ``mem_pcpu_rsv`` either way.
    Simplification: the add and the fold are one step (the kernel's this_cpu_xchg then atomic add
    leaves the pages briefly in neither counter)."""
    local = state.cpus[cpu].per_cpu_fw_alloc + pages
    if rules.pcpu_drains(local, state.config.mem_pcpu_rsv):
        state.memory_allocated += local
        local = 0
    return set_cpu(state, cpu, per_cpu_fw_alloc=local)


def napi_cache_put(state: Draft, cpu: int) -> Draft:
    """napi_skb_cache_put() (net/core/skbuff.c, v6.18): the head joins this CPU's NAPI cache;
    a full cache hands ``napi_cache_bulk`` heads back to the slab in one bulk free."""
    count = state.cpus[cpu].napi_skb_cache + 1
    count -= rules.napi_cache_bulk(count, state.config.napi_cache_size, state.config.napi_cache_bulk)
    return set_cpu(state, cpu, napi_skb_cache=count)


def free_skb(state: Draft, skb_id: int, ctx: Context, cpu: int, how: str, *, napi: bool) -> Draft:
    """Free an skb's memory on ``cpu``: into the NAPI cache (``napi``) or straight to the slab.
    Records the free in the skb's lifecycle, so a second free is visible, not an error."""
    skb = state.skbs[skb_id]
    state = touch(state, skb_id, ctx, where=("freed",), frees=(*skb.frees, FreeEvent(cpu, how)))
    if napi and not skb.fclone:
        state = napi_cache_put(state, cpu)
    return state


def unlink(state: Draft, sk: int, skb_id: int) -> Draft:
    """__skb_unlink() from the receive queue: the task now holds the skb."""
    sock: Sock = state.sockets[sk]
    queue = sock.sk_receive_queue
    if not queue or queue[0] != skb_id:
        raise SpecError(f"skb {skb_id} is not at the head of socket {sk}'s receive queue")
    state = set_sock(state, sk, sk_receive_queue=queue[1:])
    return hand(state, skb_id, ("task", sk), ("held", "task", sk))


def rx_in_flight(state: View, sk: int) -> bool:
    """Whether a NET_RX run is flushing before it delivers a packet to socket ``sk``."""
    return any(c.softirq is not None and c.softirq.rx_sk == sk for c in state.cpus)


def syscall_blocked(state: View, sk: int, op: str) -> str | None:
    """Why socket ``sk``'s next system call cannot start as ``op`` now, if it cannot: the socket
    must be free (no task holds its lock, no packet for it in NET_RX: the kernel would put that
    packet on the backlog and queue it at release_sock(), the same order of events), ``op`` next
    in its script, and its CPU online."""
    sock = state.sockets[sk]
    if sock.owner is not None:
        return "the socket is owned by a task"
    if rx_in_flight(state, sk):
        return "a packet for the socket is in NET_RX"
    if not sock.ops or sock.ops[0].op != op:
        return f"{op}() is not the socket's next system call"
    if not state.cpus[sock.ops[0].cpu].online:
        return f"CPU {sock.ops[0].cpu} is offline"
    return None


def task_blocked(state: View, sk: int) -> str | None:
    """Why socket ``sk``'s task cannot take a step now, if it cannot: it needs its CPU online and
    not busy in softirq (a softirq runs to completion before process context resumes there), nor
    held by another task with preemption off (between the two steps of a guardless kick)."""
    task = state.sockets[sk].owner
    if task is None:
        return "the socket has no task"
    cpu = state.cpus[task.cpu]
    if not cpu.online:
        return f"the task's CPU {task.cpu} is offline"
    if cpu.softirq is not None:
        return f"CPU {task.cpu} is running a softirq"
    other = in_csd_call(state, task.cpu)
    if other is not None and other != sk:
        return f"socket {other}'s task holds CPU {task.cpu} inside smp_call_function_single_async()"
    return None


def in_csd_call(state: View, cpu: int | None = None) -> int | None:
    """The socket whose task is inside smp_call_function_single_async() (a guardless kick between
    its test of the descriptor's lock flag and its queueing, pc "csd"), on ``cpu`` or on any CPU:
    that function runs with preemption disabled (kernel/smp.c, v5.18), so no other task runs on
    that CPU, the task does not migrate and stop_machine() waits."""
    for sock in state.sockets:
        task = sock.owner
        if task is not None and task.defer is not None and task.defer.pc == "csd" and cpu in (None, task.cpu):
            return sock.id
    return None
