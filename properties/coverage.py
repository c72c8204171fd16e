"""What a run reached: the interesting transitions that show a green run is not green by vacuity
(GUIDE pattern 6). ``observe`` names them for one step; the state machines report them with
``hypothesis.event`` and the CI profile fails a machine that never reached one of its list."""

from __future__ import annotations

from model import kernels
from spec import (
    Action,
    Config,
    CpuOffline,
    DeferCheck,
    DeferCount,
    DeferKick,
    DeferPush,
    DeferRead,
    ErrQueueCharge,
    FlushDetach,
    FlushReset,
    NapiConsumeSkb,
    PacketArrives,
    PagePoolRetry,
    PurgeStep,
    SetDeferMax,
    SockDestruct,
    State,
    enabled,
)

# The events each state machine must reach under the CI profile (every event is required of at
# least one machine: the race machine exists to reach the reset window).
# Each machine's list names the windows it aims at and the known findings it must meet (no green
# by vacuity: a finding the machine no longer reaches means its generators lost the window).
# Findings F4, F6 and F10 are not required of any machine: see the README ("what the machines find").
REQUIRED: dict[str, tuple[str, ...]] = {
    # (the mid-epoch write is the sysctl machine's aim; the close machine met it only by chance:
    # on v7.3+fixes, whose fallbacks no longer count, 0 to 18 times per 300 examples by seed)
    "close": ("kick sent", "full slot fell back", "cross-CPU free", "RST sent", "skb_defer_max changed",
              "page pool kicked a CPU", "TX completion deferred"),
    "hotplug": ("kick sent", "cross-CPU free", "RST sent", "CPU offline with a non-empty slot",
                "error-queue charge during a purge", "socket destroyed with error-queue skbs", "known F1", "known F9"),
    "race": ("kick sent", "full slot fell back", "flush raced a producer", "cross-CPU free", "RST sent",
             "arrival flushed a slot"),
    "offline": ("kick sent", "CPU offline in a producer's window", "pushed to an offline CPU", "known F2",
                "known F3", "known F7"),
    "sysctl": ("kick sent", "skb_defer_max written mid-epoch", "known F8"),
    "wedge": ("full slot fell back", "skb_defer_max changed", "known F5"),
    "fixed": ("kick sent", "cross-CPU free", "CPU offline with a non-empty slot", "fell back without counting",
              "error queue purged by close()", "error-queue skb refused after close()"),
}  # fmt: skip


# What a named kernel cannot reach unless its switches set a Config field to a value: coverage
# events and action kinds that ``check --kernel`` then does not require (spec/defer.py and
# spec/flush.py: the count and reset steps are defer-v6's; the page-pool walk and the TX hand-off
# need their switch; with fix-F7 no CPU goes down inside an attempt, and with fix-F1-errqueue-closed
# the error queue is empty when the socket is destroyed; the steps of the candidate fixes need them).
NEEDS_SWITCH: dict[str, tuple[str, object]] = {
    "page pool kicked a CPU": ("page_pool_kick", True),
    "PagePoolRetry": ("page_pool_kick", True),
    "TX completion deferred": ("napi_consume_defers", True),
    "NapiConsumeSkb": ("napi_consume_defers", True),
    "DeferCount": ("defer", "defer-v6"),
    "FlushReset": ("defer", "defer-v6"),
    "CPU offline in a producer's window": ("defer_preempt_off", False),
    "pushed to an offline CPU": ("defer_preempt_off", False),
    "socket destroyed with error-queue skbs": ("errqueue_refuses_closed", False),
    "fell back without counting": ("defer_count_below_max", True),
    "error queue purged by close()": ("close_purges_errqueue", True),
    "error-queue skb refused after close()": ("errqueue_refuses_closed", True),
}


def unreachable_on(kernel: str | None) -> frozenset[str]:
    """Events and action kinds ``kernel`` cannot reach (none without a kernel)."""
    if kernel is None:
        return frozenset()
    fields = kernels.kernel(kernel).switches()
    defaults = Config()
    return frozenset(
        e for e, (field, value) in NEEDS_SWITCH.items() if fields.get(field, getattr(defaults, field)) != value
    )


def fixed_by(kernel: str | None) -> frozenset[str]:
    """The known findings the named kernel's switches fix: ``check --kernel`` fails when one shows."""
    return frozenset() if kernel is None else frozenset(kernels.kernel(kernel).fixes)


def required(machine: str, kernel: str | None) -> list[str]:
    """The events machine ``machine`` must reach. Under a named kernel, a known finding is what the
    run reports, not a requirement (the requirements were tuned on the mixed draw: pinned to
    v6.19.y, the sysctl machine needs 400 examples for F8, the ci profile runs 300), and what the
    kernel cannot reach is not required; every other event stays required."""
    skip = unreachable_on(kernel)
    return [e for e in REQUIRED[machine] if e not in skip and not (kernel and e.startswith("known "))]


def _producers(state: State) -> list[tuple[int, int, str]]:
    """(socket, target CPU, next step) of every skb_attempt_defer_free() past its check."""
    out: list[tuple[int, int, str]] = []
    for sock in state.sockets:
        ctx = sock.owner.defer if sock.owner is not None else None
        if ctx is not None and ctx.pc != "check":
            out.append((sock.id, ctx.cpu, ctx.pc))
    return out


def windows(state: State) -> list[Action]:
    """The enabled actions that land in a narrow window, which a uniform choice among all enabled
    actions rarely hits; the machines choose among these with a rule of their own:
    - a CPU goes offline while a producer is between its online check and its push or kick;
    - a producer counts or pushes to a CPU whose flush is between its reset and its detach;
    - skb_defer_max is written while a slot's epoch is under way past its kick point;
    - an error-queue skb is charged while its socket's close is purging."""
    producers = _producers(state)
    return [a for a in enabled(state) if _aims(state, a, producers)]


def _aims(state: State, a: Action, producers: list[tuple[int, int, str]]) -> bool:
    if isinstance(a, CpuOffline):
        return any(cpu == a.cpu for _, cpu, _ in producers)
    if isinstance(a, DeferRead | DeferCount | DeferPush | DeferCheck):
        return _in_reset_window(state, a.sk)
    if isinstance(a, SetDeferMax):
        return _epoch_open(state)
    if isinstance(a, ErrQueueCharge):
        return _purging(state, a.sk)
    return False


def _in_reset_window(state: State, sk: int) -> bool:
    task = state.sockets[sk].owner
    ctx = task.defer if task is not None else None
    if ctx is None:
        return False
    target = state.skbs[ctx.skb].alloc_cpu
    flush = state.cpus[target].softirq if 0 <= target < len(state.cpus) else None
    return flush is not None and flush.pc == _window_pc(state)


def _window_pc(state: State) -> str:
    """The flush step that closes its window: the detach after the reset, or the reset after the
    detach (fix-F6-detach-before-reset)."""
    return "reset" if state.config.flush_detach_first else "detach"


def _epoch_open(state: State) -> bool:
    """A slot's epoch is under way past its kick point: skbs wait on its list for the flush that
    ends it, and its count has reached max/2 + 1 of the current maximum (a write now moves the
    kick point of the attempts still to come in the epoch)."""
    kick_point = state.skb_defer_max // 2 + 1
    return any(sl.defer_list and sl.defer_count >= kick_point for c in state.cpus for sl in c.defer_slots)


def _purging(state: State, sk: int) -> bool:
    task = state.sockets[sk].owner
    return task is not None and task.op == "close" and task.phase == "purge"


def observe(pre: State, a: Action, post: State) -> list[str]:
    out: list[str] = []
    if isinstance(a, DeferKick):
        target = pre.sockets[a.sk].owner.defer.cpu  # type: ignore[union-attr]
        if post.cpus[target].ipi_queued > pre.cpus[target].ipi_queued:
            out.append("kick sent")
    if isinstance(a, FlushReset | FlushDetach):
        ctx = pre.cpus[a.cpu].softirq
        assert ctx is not None
        if any(
            k.owner is not None
            and k.owner.defer is not None
            and k.owner.defer.pc == "push"
            and k.owner.defer.cpu == a.cpu
            and k.owner.defer.node == ctx.node
            for k in pre.sockets
        ):
            out.append("flush raced a producer")
    if isinstance(a, DeferCount | DeferPush):
        attempt = pre.sockets[a.sk].owner.defer  # type: ignore[union-attr]
        assert attempt is not None
        flush = pre.cpus[attempt.cpu].softirq
        if flush is not None and flush.pc == _window_pc(pre):
            out.append("flush raced a producer")
        if isinstance(a, DeferPush) and not pre.cpus[attempt.cpu].online:
            out.append("pushed to an offline CPU")
    if isinstance(a, CpuOffline) and any(sl.defer_list for sl in pre.cpus[a.cpu].defer_slots):
        out.append("CPU offline with a non-empty slot")
    if isinstance(a, CpuOffline) and any(cpu == a.cpu for _, cpu, _ in _producers(pre)):
        out.append("CPU offline in a producer's window")
    if isinstance(a, SetDeferMax):
        out.append("skb_defer_max changed")
        if _epoch_open(pre):
            out.append("skb_defer_max written mid-epoch")
    if isinstance(a, ErrQueueCharge) and _purging(pre, a.sk):
        out.append("error-queue charge during a purge")
    if isinstance(a, ErrQueueCharge) and post.sockets[a.sk].sk_error_queue == pre.sockets[a.sk].sk_error_queue:
        out.append("error-queue skb refused after close()")
    if isinstance(a, PacketArrives):
        cpu = pre.sockets[a.sk].rx[0].cpu
        if any(sl.defer_list for sl in pre.cpus[cpu].defer_slots):
            out.append("arrival flushed a slot")
    if isinstance(a, NapiConsumeSkb):
        flush = pre.cpus[a.cpu].softirq
        if flush is not None and flush.defer is not None and flush.defer.pc == "push":
            out.append("TX completion deferred")
    if isinstance(a, PagePoolRetry) and pre.page_pool is not None:
        out.append("page pool kicked a CPU")
    if isinstance(a, SockDestruct) and pre.sockets[a.sk].sk_error_queue:
        out.append("socket destroyed with error-queue skbs")
    if isinstance(a, PurgeStep) and not pre.sockets[a.sk].sk_receive_queue:
        out.append("error queue purged by close()")
    for old, new in zip(pre.skbs, post.skbs, strict=False):
        for f in new.frees[len(old.frees) :]:
            if f.how == "nodefer:full":
                out.append("full slot fell back")
                if isinstance(a, DeferCount) and pre.config.defer_count_below_max:
                    out.append("fell back without counting")
            if f.cpu != new.alloc_cpu:
                out.append("cross-CPU free")
    for before, after in zip(pre.sockets, post.sockets, strict=True):
        if after.rst_sent > before.rst_sent:
            out.append("RST sent")
    return out
