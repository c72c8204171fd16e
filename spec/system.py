"""The transition system: which actions are enabled, and what a step does.

``enabled(state)`` lists every action possible in ``state``; ``step(state, action)`` returns the
next state or raises ``NotEnabled`` naming the action and why. Both are pure and deterministic.
Each action's guard and effect live in the module of its mechanism (receive, close, defer,
flush, hotplug; scheduler migration and the sysctl write are here). They are looked up by name
at every step, so a test can replace one of them from outside (a mutant) without the spec
carrying any switch.

Also here: ``boot()``, which validates a configuration and builds the initial state.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from spec import actions as A
from spec import close, core, defer, flush, hotplug, pagepool, receive
from spec.core import Draft, SpecError
from spec.state import Config, Cpu, DeferSlot, Env, Sock, State


class NotEnabled(SpecError):
    """An action was applied in a state where it is not enabled."""

    def __init__(self, action: A.Action, reason: str) -> None:
        super().__init__(f"{action!r} is not enabled: {reason}")
        self.action = action
        self.reason = reason


# -- the two actions of the environment that belong to no mechanism ------------------------------


def guard_migrate(state: State, a: A.Migrate) -> str | None:
    """The scheduler may move a task between two of its steps where it can be preempted: the
    purge loop and skb_attempt_defer_free() run with preemption enabled, but only a fully
    preemptible kernel (``Config.preempt`` "full") stops a task inside the defer attempt
    (FACTS §14), and with fix-F7 (``Config.defer_preempt_off``) no kernel does. Simplification:
    between the purge loop's iterations the task may move under every model (under NONE and
    VOLUNTARY it would need a scheduling point there)."""
    if state.env.migrations <= 0:
        return "the workload allows no more migrations"
    task = state.sockets[a.sk].owner
    if task is None:
        return f"socket {a.sk} has no task"
    if task.defer is not None and (state.config.preempt != "full" or state.config.defer_preempt_off):
        return f"preempt={state.config.preempt}: the task is not preempted inside skb_attempt_defer_free()"
    if task.defer is not None and task.defer.pc == "csd":
        return "the task is inside smp_call_function_single_async(), preemption off"
    if a.cpu == task.cpu or not state.cpus[a.cpu].online:
        return f"CPU {a.cpu} is the task's CPU or offline"
    return None


def apply_migrate(state: Draft, a: A.Migrate) -> Draft:
    core.set_env(state, migrations=state.env.migrations - 1)
    return core.set_task(state, a.sk, cpu=a.cpu)


def guard_set_defer_max(state: State, a: A.SetDeferMax) -> str | None:
    """net.core.skb_defer_max may be written at any time; each attempt reads it once."""
    if state.env.defer_max_writes <= 0 or a.value not in state.env.defer_max_values:
        return "the workload allows no such write of skb_defer_max"
    if a.value == state.skb_defer_max:
        return f"skb_defer_max is already {a.value}"
    return None


def apply_set_defer_max(state: Draft, a: A.SetDeferMax) -> Draft:
    state.skb_defer_max = a.value
    return core.set_env(state, defer_max_writes=state.env.defer_max_writes - 1)


# -- dispatch ------------------------------------------------------------------------------------

_system = sys.modules[__name__]

RULES: dict[type[A.Action], tuple[ModuleType, str]] = {
    A.PacketArrives: (receive, "packet_arrives"),
    A.ErrQueueCharge: (receive, "err_queue_charge"),
    A.RecvStart: (receive, "recv_start"),
    A.RecvCopy: (receive, "recv_copy"),
    A.RecvEnd: (receive, "recv_end"),
    A.CloseStart: (close, "close_start"),
    A.PurgeStep: (close, "purge_step"),
    A.CloseDecide: (close, "close_decide"),
    A.SockDestruct: (close, "sock_destruct"),
    A.DeferCheck: (defer, "defer_check"),
    A.DeferRead: (defer, "defer_read"),
    A.DeferCount: (defer, "defer_count"),
    A.DeferPush: (defer, "defer_push"),
    A.DeferKick: (defer, "defer_kick"),
    A.IpiDeliver: (flush, "ipi_deliver"),
    A.SoftirqStart: (flush, "softirq_start"),
    A.FlushReset: (flush, "flush_reset"),
    A.FlushDetach: (flush, "flush_detach"),
    A.FlushFree: (flush, "flush_free"),
    A.TxComplete: (flush, "tx_complete"),
    A.NapiConsumeSkb: (flush, "napi_consume_skb"),
    A.RaiseNetRx: (flush, "raise_net_rx"),
    A.DevCpuDead: (hotplug, "dev_cpu_dead"),
    A.PagePoolRetry: (pagepool, "page_pool_retry"),
    A.CpuOffline: (hotplug, "cpu_offline"),
    A.CpuOnline: (hotplug, "cpu_online"),
    A.Migrate: (_system, "migrate"),
    A.SetDeferMax: (_system, "set_defer_max"),
}


def guard(state: State, action: A.Action) -> str | None:
    """None when ``action`` is enabled in ``state``, else the reason it is not."""
    rule = RULES.get(type(action))
    if rule is None:
        return f"unknown action type {type(action).__name__}"
    if not _in_range(state, action):
        return "it names a socket or CPU that does not exist"
    fn: Callable[[State, A.Action], str | None] = getattr(rule[0], "guard_" + rule[1])
    return fn(state, action)


def step(state: State, action: A.Action) -> State:
    """The state after ``action``; raises NotEnabled if it is not enabled in ``state``."""
    reason = guard(state, action)
    if reason is not None:
        raise NotEnabled(action, reason)
    rule = RULES[type(action)]
    fn: Callable[[Draft, A.Action], Draft] = getattr(rule[0], "apply_" + rule[1])
    return fn(Draft(state), action).freeze(state)


def _in_range(state: State, action: A.Action) -> bool:
    """Every socket and CPU the action names exists (actions without one name nothing)."""
    for field, limit in (("sk", len(state.sockets)), ("cpu", len(state.cpus))):
        if hasattr(action, field):
            value = getattr(action, field)
            if not isinstance(value, int) or not 0 <= value < limit:
                return False
    return True


def _task_actions(sock: Sock) -> list[A.Action]:
    task = sock.owner
    if task is None:
        return []
    if task.defer is not None:
        return [_DEFER_STEP[task.defer.pc](sock.id)]
    if task.op == "recv":
        return [A.RecvCopy(sock.id), A.RecvEnd(sock.id)]
    return [A.PurgeStep(sock.id), A.CloseDecide(sock.id)]


_DEFER_STEP: dict[str, Callable[[int], A.Action]] = {
    "check": A.DeferCheck,
    "read": A.DeferRead,
    "count": A.DeferCount,
    "push": A.DeferPush,
    "kick": A.DeferKick,
    "csd": A.DeferKick,
}


def candidates(state: State) -> list[A.Action]:
    """A cheap superset of the enabled actions, in a fixed order (sockets, then CPUs, then the
    environment); ``enabled`` filters it through the guards, the single source of truth.
    Candidates are chosen by actor and by the presence of work only (a task, a queued IPI, a
    softirq running or pending, a dead CPU, a budget), never by a step's own condition, so that
    a changed guard (a mutant, a variant under study) is not hidden by this list."""
    out: list[A.Action] = []
    for sock in state.sockets:
        if sock.rx:
            out.append(A.ErrQueueCharge(sock.id) if sock.rx[0].errqueue else A.PacketArrives(sock.id))
        if sock.owner is None:
            if sock.ops:
                out.append(A.RecvStart(sock.id) if sock.ops[0].op == "recv" else A.CloseStart(sock.id))
        else:
            out.extend(_task_actions(sock))
    if state.page_pool is not None or state.env.page_pool_releases:
        out.append(A.PagePoolRetry())
    if state.env.tx_completions:
        out.append(A.TxComplete(state.env.tx_completions[0][1]))
    for cpu in state.cpus:
        if cpu.ipi_queued:
            out.append(A.IpiDeliver(cpu.id))
        if cpu.softirq is not None:
            out.extend((A.FlushReset(cpu.id), A.FlushDetach(cpu.id), A.FlushFree(cpu.id), A.NapiConsumeSkb(cpu.id)))
        elif cpu.net_rx_pending:
            out.append(A.SoftirqStart(cpu.id))
        if cpu.dead_pending:
            out.append(A.DevCpuDead(cpu.id))
    env = state.env
    if env.migrations:
        for sock in state.sockets:
            if sock.owner is not None:
                out.extend(A.Migrate(sock.id, c.id) for c in state.cpus if c.id != sock.owner.cpu)
    for cpu in state.cpus:
        if env.netrx_raises and not cpu.net_rx_pending:
            out.append(A.RaiseNetRx(cpu.id))
        if env.offlines and cpu.online:
            out.append(A.CpuOffline(cpu.id))
        if not cpu.online:
            out.append(A.CpuOnline(cpu.id))
    if env.defer_max_writes:
        out.extend(A.SetDeferMax(v) for v in env.defer_max_values)
    out.extend(A.SockDestruct(s.id) for s in state.sockets if s.shutdown and not s.destroyed)
    return out


def enabled(state: State) -> list[A.Action]:
    """Every action enabled in ``state``, in a fixed order."""
    return [a for a in candidates(state) if guard(state, a) is None]


def successors(state: State) -> list[tuple[A.Action, State]]:
    """Every enabled action with the state it leads to, in ``enabled``'s order: what
    ``[(a, step(state, a)) for a in enabled(state)]`` gives, with each guard run once instead of
    twice (the exhaustive explorer's inner loop). Candidates name only existing sockets and
    CPUs, so the range test is not needed; guards and effects are still looked up by name."""
    out: list[tuple[A.Action, State]] = []
    for action in candidates(state):
        module, name = RULES[type(action)]
        if getattr(module, "guard_" + name)(state, action) is None:
            out.append((action, getattr(module, "apply_" + name)(Draft(state), action).freeze(state)))
    return out


def boot(
    config: Config,
    cpu_nodes: Sequence[int],
    skb_defer_max: int,
    sockets: Sequence[Sock],
    env: Env | None = None,
) -> State:
    """Validate a configuration and build its initial state: every CPU online with one empty
    slot per node, and the protocol page count holding each socket's SO_RESERVE_MEM pages.
    Raises SpecError with one line naming what is wrong."""
    if not cpu_nodes:
        raise SpecError("a machine needs at least one CPU")
    nodes = max(cpu_nodes) + 1
    if min(cpu_nodes) < 0 or set(cpu_nodes) != set(range(nodes)):
        raise SpecError(f"every NUMA node from 0 to {nodes - 1} needs a CPU (cpu_nodes={list(cpu_nodes)})")
    if skb_defer_max < 0:
        raise SpecError(f"skb_defer_max must be >= 0, not {skb_defer_max}")
    if env is not None and any(v < 0 for v in env.defer_max_values):
        raise SpecError("skb_defer_max values must be >= 0")
    if env is not None and any(not 0 <= c < len(cpu_nodes) for pair in env.tx_completions for c in pair):
        raise SpecError("a TX completion names a CPU that does not exist")
    if config.page_size <= 0 or config.mem_pcpu_rsv < 0:
        raise SpecError("PAGE_SIZE must be > 0 and mem_pcpu_rsv >= 0")
    if not 0 < config.napi_cache_bulk <= config.napi_cache_size:
        raise SpecError("the NAPI cache bulk must be between 1 and the cache size")
    if config.napi_consume_defers and not config.flush_before_poll:
        raise SpecError(
            "napi_consume_skb() deferring (e20dfbad8aab, v6.19) needs the flush before each poll (909876500251, v5.19)"
        )
    if config.napi_consume_defers and not config.ipi_guard:
        raise SpecError("napi_consume_skb() deferring (e20dfbad8aab, v6.19) needs the IPI guard (97e719a82b43, v5.19)")
    if config.page_pool_kick and not config.ipi_guard:
        raise SpecError("the page pool's kick (6.18.y) needs the IPI guard (97e719a82b43, v5.19)")
    if config.defer == "defer-v6" and config.v2_kick_count != "before":
        raise SpecError("v2_kick_count 'after' is a defer-v2 kernel's (before c09b0cd2cc6c)")
    pages = 0
    for i, sock in enumerate(sockets):
        if sock.id != i:
            raise SpecError(f"socket {i} has id {sock.id}")
        if sock.sk_reserved_mem % config.page_size or sock.sk_forward_alloc != sock.sk_reserved_mem:
            raise SpecError(f"socket {i}: SO_RESERVE_MEM must be whole pages, pre-charged to sk_forward_alloc")
        for cpu in [op.cpu for op in sock.ops] + [p.cpu for p in sock.rx]:
            if not 0 <= cpu < len(cpu_nodes):
                raise SpecError(f"socket {i}: CPU {cpu} does not exist")
        pages += sock.sk_reserved_mem // config.page_size
    cpus = tuple(
        Cpu(id=i, node=n, defer_slots=tuple(DeferSlot() for _ in range(nodes))) for i, n in enumerate(cpu_nodes)
    )
    return State(
        config=config,
        skb_defer_max=skb_defer_max,
        cpus=cpus,
        sockets=tuple(sockets),
        memory_allocated=pages,
        env=env or Env(),
    )
