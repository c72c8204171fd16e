"""What a run reached: the interesting transitions that show a green run is not green by vacuity
(GUIDE pattern 6). ``observe`` names them for one step; the state machines report them with
``hypothesis.event`` and the CI profile fails a machine that never reached one of its list."""

from __future__ import annotations

from spec import (
    Action,
    CpuOffline,
    DeferCheck,
    DeferCount,
    DeferKick,
    DeferPush,
    ErrQueueCharge,
    FlushDetach,
    FlushReset,
    SetDeferMax,
    State,
    enabled,
)

# The events each state machine must reach under the CI profile (every event is required of at
# least one machine: the race machine exists to reach the reset window).
# Each machine's list names the windows it aims at and the known findings it must meet (no green
# by vacuity: a finding the machine no longer reaches means its generators lost the window).
# Finding F6 is not required of any machine: see the README ("what the machines find").
REQUIRED: dict[str, tuple[str, ...]] = {
    "close": ("kick sent", "full slot fell back", "cross-CPU free", "RST sent", "skb_defer_max changed",
              "skb_defer_max written mid-epoch", "known F4", "known F8"),
    "hotplug": ("kick sent", "cross-CPU free", "RST sent", "CPU offline with a non-empty slot",
                "error-queue charge during a purge", "known F1"),
    "race": ("kick sent", "full slot fell back", "flush raced a producer", "cross-CPU free", "RST sent"),
    "offline": ("kick sent", "CPU offline in a producer's window", "pushed to an offline CPU", "known F2",
                "known F3", "known F7"),
    "sysctl": ("kick sent", "skb_defer_max written mid-epoch"),
    "wedge": ("full slot fell back", "skb_defer_max changed", "known F5"),
}  # fmt: skip


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
    - skb_defer_max is written while a slot's epoch is under way (skbs on its list);
    - an error-queue skb is charged while its socket's close is purging."""
    producers = _producers(state)
    return [a for a in enabled(state) if _aims(state, a, producers)]


def _aims(state: State, a: Action, producers: list[tuple[int, int, str]]) -> bool:
    if isinstance(a, CpuOffline):
        return any(cpu == a.cpu for _, cpu, _ in producers)
    if isinstance(a, DeferCount | DeferPush | DeferCheck):
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
    return flush is not None and flush.pc == "detach"


def _epoch_open(state: State) -> bool:
    """A slot's epoch is under way: skbs wait on its list for the flush that ends it."""
    return any(sl.defer_list for c in state.cpus for sl in c.defer_slots)


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
        if flush is not None and flush.pc == "detach":
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
    for old, new in zip(pre.skbs, post.skbs, strict=False):
        for f in new.frees[len(old.frees) :]:
            if f.how == "nodefer:full":
                out.append("full slot fell back")
            if f.cpu != new.alloc_cpu:
                out.append("cross-CPU free")
    for before, after in zip(pre.sockets, post.sockets, strict=True):
        if after.rst_sent > before.rst_sent:
            out.append("RST sent")
    return out
