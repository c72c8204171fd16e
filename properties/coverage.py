"""What a run reached: the interesting transitions that show a green run is not green by vacuity
(GUIDE pattern 6). ``observe`` names them for one step; the state machines report them with
``hypothesis.event`` and the CI profile fails a machine that never reached one of its list."""

from __future__ import annotations

from spec import (
    Action,
    CpuOffline,
    DeferCount,
    DeferKick,
    DeferPush,
    FlushDetach,
    FlushReset,
    NapiConsumeSkb,
    PacketArrives,
    PagePoolRetry,
    SetDeferMax,
    SockDestruct,
    State,
)

# The events each state machine must reach under the CI profile (every event is required of at
# least one machine: the race machine exists to reach the reset window).
REQUIRED: dict[str, tuple[str, ...]] = {
    "close": (
        "kick sent",
        "full slot fell back",
        "cross-CPU free",
        "RST sent",
        "skb_defer_max changed",
        "page pool kicked a CPU",
        "TX completion deferred",
    ),
    "race": (
        "kick sent",
        "full slot fell back",
        "flush raced a producer",
        "cross-CPU free",
        "RST sent",
        "arrival flushed a slot",
    ),
    "hotplug": (
        "kick sent",
        "cross-CPU free",
        "RST sent",
        "CPU offline with a non-empty slot",
        "socket destroyed with error-queue skbs",
    ),
}


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
    if isinstance(a, SetDeferMax):
        out.append("skb_defer_max changed")
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
