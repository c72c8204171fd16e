"""Contention and latency of a run: cache-line transfers, frees, IPIs and time, read off the trace.

``measure(run)`` walks the transitions the scheduler recorded (``run.states[i]``,
``run.actions[i]``, ``run.states[i + 1]``) and, for each step, derives the memory accesses the
kernel code makes from the action's type and the change in state. Nothing is simulated a second
time: every count and every nanosecond comes from a step the spec took.

Cache lines. Each shared location the spec touches is one line: a socket's ``sk_rmem_alloc``
(``rmem``), its ``sk_forward_alloc`` (``fwd``) and its lock; each CPU's ``per_cpu_fw_alloc``;
``memory_allocated``; each defer slot (list head and count share one cache-aligned line,
``struct skb_defer_node``); each CPU's ``defer_ipi_scheduled``; each CPU's NAPI skb cache; the
slab freelists of each allocating CPU; each skb's head. The walk keeps the last writer of every
line (and the CPUs holding a shared copy since). A write or atomic by another CPU is a transfer
(read-for-ownership), a read by a CPU without a copy is a transfer too; each is classed by
distance: same CPU (no transfer), same node, other node. So ``llist_add()`` onto another CPU's
list, a load then a cmpxchg, pays two transfers, as the measurements in COSTS.md say.

Time. Each step costs nanoseconds on the CPU that runs it (model/costs.py says how primitives
compose). There is one global clock, advanced by every step's cost: the trace is read as a
serial schedule, which overstates waiting when CPUs work in parallel but keeps every figure a
plain sum. The one wait the clock models is the IPI's: an IpiDeliver cannot happen before the
send plus the IPI latency, so the clock jumps there if it is behind.

Derived figures: close() duration (the cost of the close task's own steps: CloseStart, the purge
loop, the defer attempts it makes, CloseDecide; softirqs that interrupt it are not included),
time with BH disabled per CPU (NET_RX runs and the BH-off "free now" of the defer path), the
longest NET_RX delay (the longest BH-disabled stretch: a pending packet waits behind it, since
the flush runs at the top of net_rx_action()), hand-off-to-free latency per skb (from the step
that unlinked it from the receive queue to the step that freed it; 0 for close-old), the skbs
left waiting (handed off, never freed) and the peak bytes on defer lists.

The workload's packet arrivals are walked (they decide which CPU owns each line when the
application acts) but their own work (NET_RX entry, building, charging and queueing the skb) is
neither counted nor timed: both close paths receive identically. The flush an arrival's NET_RX
run makes first (909876500251, FACTS §14) is counted like any other flush: its steps are the
flush's, and the run is counted in ``rx_flush_runs``; its BH-disabled stretch ends when the
packet is built.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from model.costs import DEFAULT_PROFILE, Distance, Profile
from model.costs import profile as get_profile
from model.scenarios import Scenario
from model.scheduler import Run, acting_cpu, run
from spec import actions as A
from spec.core import SpecError
from spec.state import CloseVariant, FreeEvent, Skb, State

Line = tuple[str | int, ...]

WORKLOAD: tuple[type[A.Action], ...] = (A.PacketArrives, A.ErrQueueCharge, A.TxComplete)
SOFTIRQ: tuple[type[A.Action], ...] = (A.SoftirqStart, A.FlushReset, A.FlushDetach, A.FlushFree, A.NapiConsumeSkb)
LOCKS: tuple[type[A.Action], ...] = (A.CloseStart, A.CloseDecide, A.RecvStart, A.RecvEnd)


def distance(state: State, owner: int, cpu: int) -> Distance:
    """How far a line travels from ``owner`` to ``cpu``: not at all, within a node, or across."""
    if owner == cpu:
        return "cpu"
    return "node" if state.cpus[owner].node == state.cpus[cpu].node else "xnode"


def transfer_distance(state: State, owner: int, cpu: int) -> Distance:
    """The classification of a cache-line access by ``cpu`` to a line ``owner`` last wrote: a
    transfer unless it is "cpu". Separate from ``distance`` (which classes frees) so that a test
    can plant an error in exactly this decision."""
    return distance(state, owner, cpu)


@attrs.frozen
class CpuMetrics:
    """Counters of one CPU over a run (workload arrivals excluded)."""

    cpu: int
    node: int
    atomics: int = 0
    transfers_node: int = 0
    transfers_xnode: int = 0
    remote_frees: int = 0  # skbs this CPU freed that another CPU allocated
    remote_frees_xnode: int = 0  # of which the allocating CPU is on another node
    local_frees: int = 0
    bulk_frees: int = 0  # heads the NAPI cache handed back to the slab
    bulk_frees_remote: int = 0  # of which another CPU allocated (alien objects)
    ipis_sent: int = 0
    ipis_received: int = 0
    softirq_runs: int = 0  # NET_RX runs raised by the IPI or by unrelated traffic
    rx_flush_runs: int = 0  # NET_RX runs of an arriving packet that found skbs to flush first
    busy_ns: float = 0.0
    bh_ns: float = 0.0  # with BH disabled (NET_RX runs, kfree_skb_napi_cache())
    irq_ns: float = 0.0  # in the IPI handler

    @property
    def transfers(self) -> int:
        return self.transfers_node + self.transfers_xnode


COUNTERS: tuple[str, ...] = tuple(f.name for f in attrs.fields(CpuMetrics) if f.name not in ("cpu", "node"))


@attrs.frozen
class Metrics:
    """What ``measure`` found in one run, under one cost profile."""

    profile: str
    per_cpu: tuple[CpuMetrics, ...]
    fallbacks: tuple[tuple[str, int], ...]  # "free now" exits of skb_attempt_defer_free() by reason
    close_ns: tuple[float, ...]  # each close() call's duration, in order of completion
    unread_skbs: int  # skbs the close purge loops freed or handed off
    handoff_ns: tuple[float, ...]  # hand-off-to-free latency of each freed skb, sorted
    left_waiting: int  # skbs handed off and never freed (still on a defer list at quiescence)
    peak_defer_bytes: int
    bh_stretches_ns: tuple[float, ...]  # each BH-disabled stretch: NET_RX runs, BH-off frees
    frees: int  # free events counted (every FreeEvent of the trace, once)
    steps: int
    clock_ns: float

    def total(self, name: str) -> float:
        """A counter summed over CPUs (``transfers`` included)."""
        return sum(float(getattr(c, name)) for c in self.per_cpu)

    def per_skb(self, value: float) -> float | None:
        """``value`` per unread skb; None when close found nothing unread."""
        return value / self.unread_skbs if self.unread_skbs else None

    @property
    def netrx_delay_max_ns(self) -> float:
        return max(self.bh_stretches_ns, default=0.0)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of the hand-off-to-free latencies (None without any)."""
        if not self.handoff_ns:
            return None
        rank = max(1, -(-int(q * len(self.handoff_ns)) // 100))  # ceil(q * n / 100)
        return self.handoff_ns[min(rank, len(self.handoff_ns)) - 1]


class _Walk:
    """The mutable state of one walk over a run (line owners, clocks, counters)."""

    def __init__(self, initial: State, prof: Profile) -> None:
        self.prof = prof
        n = len(initial.cpus)
        self.counts: dict[str, list[float]] = {name: [0.0] * n for name in COUNTERS}
        self.owner: dict[Line, int] = {}
        self.sharers: dict[Line, set[int]] = {}
        self.clock = 0.0
        self.kicked_at: dict[int, list[float]] = {}  # target CPU -> send times of queued IPIs
        self.handed_at: dict[int, float] = {}  # skb -> clock when a task unlinked it
        self.latencies: list[float] = []
        self.close_acc: dict[int, float] = {}
        self.close_ns: list[float] = []
        self.unread = 0
        self.fallbacks: Counter[str] = Counter()
        self.frees = 0
        self.defer_bytes = 0
        self.peak_defer_bytes = 0
        self.softirq_acc: dict[int, float] = {}
        self.stretches: list[float] = []
        # Per step:
        self.state = initial
        self.cpu = 0
        self.ns = 0.0
        self.counting = True
        self.freed_now: list[int] = []
        # The allocating CPU of each head in each CPU's NAPI cache, a stack as in the kernel.
        self.napi_stack: dict[int, list[int]] = {}

    # -- primitives --------------------------------------------------------------------------

    def add(self, name: str, amount: float = 1, cpu: int | None = None) -> None:
        if self.counting:
            self.counts[name][self.cpu if cpu is None else cpu] += amount

    def charge(self, ns: float) -> None:
        if self.counting:
            self.ns += ns

    def _transfer(self, owner: int, priced: bool) -> None:
        d = transfer_distance(self.state, owner, self.cpu)
        if d == "cpu":
            return
        self.add("transfers_node" if d == "node" else "transfers_xnode")
        if not priced:
            self.charge(self.prof.transfer(d))

    def read(self, line: Line) -> None:
        owner = self.owner.get(line)
        if owner is None:  # never written in this run: a cold miss, not a transfer
            return
        shared = self.sharers.setdefault(line, set())
        if self.cpu not in shared:
            self._transfer(owner, priced=False)
            shared.add(self.cpu)

    def write(self, line: Line, *, priced: bool = False) -> None:
        """A store to ``line``; ``priced``: the primitive's own figure already includes the transfer."""
        owner = self.owner.get(line)
        if owner is not None:
            self._transfer(owner, priced)
        self.owner[line] = self.cpu
        self.sharers[line] = {self.cpu}

    def rmw(self, line: Line) -> None:
        self.write(line)
        self.add("atomics")
        self.charge(self.prof.atomic_local.ns)

    # -- frees ---------------------------------------------------------------------------------

    def free(self, skb: Skb, ev: FreeEvent) -> None:
        """One FreeEvent: which CPU freed what, and by which path."""
        self.frees += 1
        self.freed_now.append(skb.id)
        cpu = ev.cpu
        d = distance(self.state, skb.alloc_cpu, cpu)
        if d == "cpu":
            self.add("local_frees", cpu=cpu)
        else:
            self.add("remote_frees", cpu=cpu)
            if d == "xnode":
                self.add("remote_frees_xnode", cpu=cpu)
        self.write(("skb", skb.id))
        nodefer = ev.how.startswith("nodefer:")
        if nodefer:
            self.fallbacks[ev.how.removeprefix("nodefer:")] += 1
        if not skb.fclone and (nodefer or ev.how == "flush"):  # the NAPI cache paths
            self.write(("napi", cpu))
            self.napi_stack.setdefault(cpu, []).append(skb.alloc_cpu)
            ns = self.prof.napi_put.ns
            if nodefer:  # kfree_skb_napi_cache(): BH off around the put, in process context
                ns += self.prof.bh_toggle.ns
                self.add("bh_ns", ns)
                if self.counting:
                    self.stretches.append(ns)
            self.charge(ns)
            return
        # __kfree_skb(): the memory goes back to the slab of the CPU that allocated it.
        self.write(("slab", skb.alloc_cpu), priced=True)
        slab = self.prof.slab_free_local.ns if d == "cpu" else self.prof.slab_free_remote(d)
        self.charge(self.prof.skb_release.ns + slab)

    def bulk(self, pre: State, post: State, puts: Counter[int]) -> None:
        """The NAPI cache handed heads back when a put filled it: napi_skb_cache_put() frees the
        top half of its stack with kmem_cache_free_bulk(). A head another CPU allocated (put there
        by a "free now" of a remote skb) is an alien object for the slab: it is priced as a remote
        slab free, an upper bound (the bulk API groups objects by slab page)."""
        for cpu, n in puts.items():
            gone = pre.cpus[cpu].napi_skb_cache + n - post.cpus[cpu].napi_skb_cache
            stack = self.napi_stack.setdefault(cpu, [])
            for _ in range(max(0, gone)):
                owner = stack.pop() if stack else cpu
                d = distance(self.state, owner, cpu)
                self.add("bulk_frees", cpu=cpu)
                if d == "cpu":
                    self.charge(self.prof.slab_free_bulk.ns)
                else:
                    self.add("bulk_frees_remote", cpu=cpu)
                    self.write(("slab", owner), priced=True)
                    self.charge(self.prof.slab_free_remote(d))
            if gone > 0:
                self.write(("slab", cpu))


def _accounting(w: _Walk, pre: State, post: State) -> None:
    """Socket and protocol accounting lines: written whenever their value changed."""
    if pre.memory_allocated != post.memory_allocated:
        w.rmw(("memory_allocated",))
    for s0, s1 in zip(pre.sockets, post.sockets, strict=True):
        if s0 is s1:
            continue
        if s0.sk_rmem_alloc != s1.sk_rmem_alloc:
            w.rmw(("rmem", s1.id))
        if s0.sk_forward_alloc != s1.sk_forward_alloc:
            w.write(("fwd", s1.id))
    for c0, c1 in zip(pre.cpus, post.cpus, strict=True):
        if c0 is not c1 and c0.per_cpu_fw_alloc != c1.per_cpu_fw_alloc:
            w.write(("pcpu_fw", c1.id))


def _skbs(w: _Walk, pre: State, post: State) -> None:
    """Unlinks (hand-offs by a task), defer-list occupancy and every new FreeEvent."""
    puts: Counter[int] = Counter()
    for j in range(len(pre.skbs)):
        s0, s1 = pre.skbs[j], post.skbs[j]
        if s0 is s1:
            continue
        on0, on1 = s0.where[0] == "defer_list", s1.where[0] == "defer_list"
        if on1 and not on0:
            w.defer_bytes += s1.truesize
        elif on0 and not on1:
            w.defer_bytes -= s1.truesize
        if s0.where[0] == "rcv_queue" and s1.where[0] != "rcv_queue":
            w.write(("skb", j))  # __skb_unlink() and the unread test
            w.handed_at[j] = -1.0  # stamped at the end of the step
        for ev in s1.frees[len(s0.frees) :]:
            w.free(s1, ev)
            if not s1.fclone and (ev.how == "flush" or ev.how.startswith("nodefer:")):
                puts[ev.cpu] += 1
    counting, w.counting = w.counting, False  # building a received skb is the workload's work
    for j in range(len(pre.skbs), len(post.skbs)):  # built in this step
        w.write(("skb", j))
        cpu = post.skbs[j].alloc_cpu
        if post.cpus[cpu].napi_skb_cache < pre.cpus[cpu].napi_skb_cache:  # a cached head reused
            w.write(("napi", cpu))
            stack = w.napi_stack.get(cpu)
            if stack:
                stack.pop()
        else:
            w.write(("slab", cpu))
    w.counting = counting
    w.bulk(pre, post, puts)
    w.peak_defer_bytes = max(w.peak_defer_bytes, w.defer_bytes)


def _step_lines(w: _Walk, pre: State, a: A.Action, post: State) -> None:
    """The accesses particular to each action type (the generic ones are in _accounting/_skbs)."""
    v6 = pre.config.defer == "defer-v6"
    if isinstance(a, LOCKS):
        w.rmw(("sk_lock", a.sk))  # type: ignore[attr-defined]
    elif isinstance(a, A.PurgeStep) and not pre.sockets[a.sk].sk_receive_queue:
        w.rmw(("err_queue", a.sk))  # fix-F1: skb_queue_purge() takes the error queue's lock
    elif isinstance(a, A.DeferCheck | A.DeferRead | A.DeferCount | A.DeferPush | A.DeferKick):
        task = pre.sockets[a.sk].owner
        assert task is not None and task.defer is not None
        ctx = task.defer
        if isinstance(a, A.DeferCheck):
            w.read(("skb", ctx.skb))  # zcopy flag, alloc_cpu
            if pre.config.defer_preempt_off:  # fix-F7: preemption (BH) off around the attempt
                w.charge(w.prof.bh_toggle.ns)
        elif isinstance(a, A.DeferRead):
            if not v6:
                w.read(("slot", ctx.cpu, 0))  # the racy count read (the sysctl's line is never written)
            elif pre.config.defer_test_first:  # fix-F5: the count read before the increment
                w.read(("slot", ctx.cpu, pre.cpus[task.cpu].node))
        elif isinstance(a, A.DeferCount):
            w.rmw(("slot", ctx.cpu, ctx.node))
        elif isinstance(a, A.DeferPush):
            line = ("slot", ctx.cpu, ctx.node)
            if v6:  # llist_add(): load the head, then cmpxchg
                w.read(line)
            w.rmw(line)  # v2: spin_lock on the same line
            w.write(("skb", ctx.skb))  # skb->next
        else:
            w.rmw(("ipi_flag", ctx.cpu))  # cmpxchg(defer_ipi_scheduled, 0, 1)
            if post.cpus[ctx.cpu].ipi_queued > pre.cpus[ctx.cpu].ipi_queued:
                w.add("ipis_sent")
                w.charge(w.prof.ipi_send.ns)
                w.kicked_at.setdefault(ctx.cpu, []).append(-1.0)  # stamped at the end of the step
    elif isinstance(a, A.IpiDeliver):
        _ipi_received(w, a.cpu, 1)
        w.write(("ipi_flag", a.cpu))  # smp_store_release(defer_ipi_scheduled, 0)
    elif isinstance(a, A.CpuOffline):
        queued = pre.cpus[a.cpu].ipi_queued
        if queued and not post.cpus[a.cpu].ipi_queued:  # smpcfd_dying_cpu() runs them
            _ipi_received(w, a.cpu, queued)
            w.write(("ipi_flag", a.cpu))
    elif isinstance(a, A.SoftirqStart):
        w.add("softirq_runs")
        w.charge(w.prof.softirq_entry.ns)
    elif isinstance(a, A.FlushReset | A.FlushDetach):
        ctx_f = pre.cpus[a.cpu].softirq
        assert ctx_f is not None
        line = ("slot", a.cpu, ctx_f.node)
        slot0 = pre.cpus[a.cpu].defer_slots[ctx_f.node]
        if isinstance(a, A.FlushReset):
            w.read(line)  # llist_empty()
            if post.cpus[a.cpu].defer_slots[ctx_f.node] is not slot0 and pre.config.flush_subtracts_detached:
                w.rmw(line)  # fix-F11: atomic_long_sub() of the detached skbs (a cmpxchg loop with fix-F8)
            elif post.cpus[a.cpu].defer_slots[ctx_f.node] is not slot0:
                w.write(line)  # atomic_set(defer_count, 0)
        elif v6:
            w.rmw(line)  # llist_del_all(): xchg
        else:
            w.read(line)  # the empty test before the lock
            if slot0.defer_list:
                w.rmw(line)
    elif isinstance(a, A.DevCpuDead):
        for node, slot in enumerate(pre.cpus[a.cpu].defer_slots):
            if post.cpus[a.cpu].defer_slots[node] is not slot and slot.defer_list:
                w.rmw(("slot", a.cpu, node))


def _ipi_received(w: _Walk, cpu: int, n: int) -> None:
    w.add("ipis_received", n)
    w.charge(n * w.prof.ipi_receive.ns)
    sent = w.kicked_at.get(cpu, [])
    for _ in range(min(n, len(sent))):
        # The handler cannot run before the IPI arrives: the clock waits if it is behind.
        w.clock = max(w.clock, sent.pop(0) + w.prof.ipi_latency.ns)


def _close_task(pre: State, a: A.Action) -> int | None:
    """The socket whose close() task takes step ``a``, if any."""
    sk = getattr(a, "sk", None)
    if not isinstance(sk, int) or isinstance(a, (*WORKLOAD, A.Migrate)):
        return None
    sock = pre.sockets[sk]
    if isinstance(a, A.CloseStart):
        return sk
    return sk if sock.owner is not None and sock.owner.op == "close" else None


def measure(run: Run, profile: str = DEFAULT_PROFILE) -> Metrics:
    """Walk ``run``'s transitions and count and time what each step did under ``profile``."""
    prof = get_profile(profile)
    w = _Walk(run.initial, prof)
    for i, a in enumerate(run.actions):
        pre, post = run.states[i], run.states[i + 1]
        cpu = acting_cpu(pre, a)
        if cpu is None:
            continue
        w.state, w.cpu, w.ns, w.freed_now = pre, cpu, 0.0, []
        w.counting = not isinstance(a, WORKLOAD)
        if isinstance(a, A.PacketArrives) and post.cpus[cpu].softirq is not None:
            w.counts["rx_flush_runs"][cpu] += 1  # the packet waits for the flush its run makes first
        _step_lines(w, pre, a, post)
        built = len(post.skbs) > len(pre.skbs)
        counting, w.counting = w.counting, w.counting and not built  # a charge is the workload's
        _accounting(w, pre, post)
        w.counting = counting
        _skbs(w, pre, post)
        if not w.counting:
            continue
        _finish_step(w, pre, a, post, cpu)
    final = run.final
    per_cpu = tuple(CpuMetrics(c.id, c.node, **_fields(w, c.id)) for c in final.cpus)
    waiting = sum(1 for s in final.skbs if s.where[0] in ("defer_list", "held"))
    return Metrics(
        profile=prof.name,
        per_cpu=per_cpu,
        fallbacks=tuple(sorted(w.fallbacks.items())),
        close_ns=tuple(w.close_ns),
        unread_skbs=w.unread,
        handoff_ns=tuple(sorted(w.latencies)),
        left_waiting=waiting,
        peak_defer_bytes=w.peak_defer_bytes,
        bh_stretches_ns=tuple(w.stretches),
        frees=w.frees,
        steps=len(run.actions),
        clock_ns=w.clock,
    )


def _fields(w: _Walk, cpu: int) -> dict[str, Any]:
    return {n: (w.counts[n][cpu] if n.endswith("_ns") else int(w.counts[n][cpu])) for n in COUNTERS}


def _finish_step(w: _Walk, pre: State, a: A.Action, post: State, cpu: int) -> None:
    """Advance the clock by the step's cost and book it to the CPU and its context."""
    ns = w.ns
    w.clock += ns
    w.counts["busy_ns"][cpu] += ns
    if isinstance(a, SOFTIRQ):
        w.counts["bh_ns"][cpu] += ns
        w.softirq_acc[cpu] = w.softirq_acc.get(cpu, 0.0) + ns
        if post.cpus[cpu].softirq is None:  # the NET_RX run is over
            w.stretches.append(w.softirq_acc.pop(cpu))
    elif isinstance(a, A.IpiDeliver):
        w.counts["irq_ns"][cpu] += ns
    sk = _close_task(pre, a)
    if sk is not None:
        w.close_acc[sk] = w.close_acc.get(sk, 0.0) + ns
        if isinstance(a, A.PurgeStep) and pre.sockets[sk].sk_receive_queue:  # not fix-F1's error-queue purge
            w.unread += 1
        if post.sockets[sk].owner is None:  # CloseDecide released the socket
            w.close_ns.append(w.close_acc.pop(sk))
    for skb, t in list(w.handed_at.items()):
        if t < 0:
            w.handed_at[skb] = w.clock
    for skb in w.freed_now:
        handed = w.handed_at.pop(skb, None)
        if handed is not None:
            w.latencies.append(w.clock - handed)
    for sent in w.kicked_at.values():
        for k, t in enumerate(sent):
            if t < 0:
                sent[k] = w.clock


# -- close-old against close-new ------------------------------------------------------------------


@attrs.frozen
class Comparison:
    """One scenario instance measured under both close paths (everything else equal)."""

    scenario: str
    case: str
    params: tuple[tuple[str, int | None], ...]
    old: Metrics
    new: Metrics


def compare(
    build: Callable[[CloseVariant], Scenario],
    *,
    scenario: str = "",
    case: str = "",
    params: tuple[tuple[str, int | None], ...] = (),
    profile: str = DEFAULT_PROFILE,
) -> Comparison:
    """Run the scenario ``build`` makes for close-old and for close-new to quiescence (same
    kernel otherwise) and measure both runs."""
    get_profile(profile)  # refuse an unknown profile before running anything
    measured: list[Metrics] = []
    paths: tuple[CloseVariant, ...] = ("close-old", "close-new")
    for path in paths:
        sc = build(path)
        if sc.state.config.close_path != path:
            raise SpecError(f"the {scenario or 'scenario'} builder ignored close_path={path}")
        measured.append(measure(run(sc.state, triggers=sc.triggers, hold=sc.hold), profile))
    return Comparison(scenario, case, params, measured[0], measured[1])


Value = float | int | str | None


def _fallbacks(m: Metrics) -> str:
    return ", ".join(f"{k} {v}" for k, v in m.fallbacks) or "-"


def _by_cpu(m: Metrics) -> str:
    return ", ".join(f"cpu{c.cpu} {c.busy_ns:.0f}" for c in m.per_cpu if c.busy_ns) or "-"


# (key, label, getter): the rows of every report, in order. Keys are the CSV/JSON names.
SUMMARY: tuple[tuple[str, str, Callable[[Metrics], Value]], ...] = (
    ("unread_skbs", "unread skbs purged by close()", lambda m: m.unread_skbs),
    ("remote_frees_per_skb", "remote frees / unread skb", lambda m: m.per_skb(m.total("remote_frees"))),
    ("transfers_per_skb", "line transfers / unread skb", lambda m: m.per_skb(m.total("transfers"))),
    ("close_ns_per_skb", "close() ns / unread skb", lambda m: m.per_skb(sum(m.close_ns))),
    ("atomics_per_skb", "atomic RMWs / unread skb", lambda m: m.per_skb(m.total("atomics"))),
    ("close_ns_mean", "close() ns per call", lambda m: sum(m.close_ns) / len(m.close_ns) if m.close_ns else None),
    ("transfers", "line transfers", lambda m: m.total("transfers")),
    ("transfers_xnode", "  of which cross-node", lambda m: m.total("transfers_xnode")),
    ("atomics", "atomic RMWs", lambda m: m.total("atomics")),
    ("remote_frees", "remote frees", lambda m: m.total("remote_frees")),
    ("remote_frees_xnode", "  of which cross-node", lambda m: m.total("remote_frees_xnode")),
    ("local_frees", "local frees", lambda m: m.total("local_frees")),
    ("bulk_frees", "bulk frees (NAPI cache to slab)", lambda m: m.total("bulk_frees")),
    ("bulk_frees_remote", "  of which allocated elsewhere", lambda m: m.total("bulk_frees_remote")),
    ("ipis_sent", "IPIs sent", lambda m: m.total("ipis_sent")),
    ("ipis_received", "IPIs received", lambda m: m.total("ipis_received")),
    ("softirq_runs", "NET_RX runs (IPI, other traffic)", lambda m: m.total("softirq_runs")),
    ("rx_flush_runs", "NET_RX runs of a packet that flushed", lambda m: m.total("rx_flush_runs")),
    ("fallbacks", "defer fallbacks by reason", _fallbacks),
    ("cpu_ns", "CPU time ns (all CPUs)", lambda m: m.total("busy_ns")),
    ("cpu_ns_by_cpu", "CPU time ns by CPU", _by_cpu),
    ("bh_ns_max", "BH-disabled ns (busiest CPU)", lambda m: max(c.bh_ns for c in m.per_cpu)),
    ("netrx_delay_max_ns", "longest NET_RX delay ns", lambda m: m.netrx_delay_max_ns),
    ("handoff_p50_ns", "hand-off to free ns, p50", lambda m: m.percentile(50)),
    ("handoff_p99_ns", "hand-off to free ns, p99", lambda m: m.percentile(99)),
    ("handoff_max_ns", "hand-off to free ns, max", lambda m: m.percentile(100)),
    ("left_waiting", "skbs left waiting (never freed)", lambda m: m.left_waiting),
    ("peak_defer_bytes", "peak bytes on defer lists", lambda m: m.peak_defer_bytes),
    ("frees", "frees counted", lambda m: m.frees),
)


def ratio(old: Value, new: Value) -> float | None:
    """new / old for two numbers with old != 0; None otherwise (shown as "-")."""
    if isinstance(old, int | float) and isinstance(new, int | float) and old:
        return new / old
    return None


def summary_rows(c: Comparison) -> list[tuple[str, str, Value, Value, float | None]]:
    """(key, label, old, new, new/old) for every SUMMARY row."""
    out: list[tuple[str, str, Value, Value, float | None]] = []
    for key, label, get in SUMMARY:
        old, new = get(c.old), get(c.new)
        out.append((key, label, old, new, ratio(old, new)))
    return out


PARAM_COLUMNS = ("skbs", "sockets", "defer_max")


def to_csv(comparisons: list[Comparison]) -> str:
    """Long format: one line per (comparison, metric), with the profile on every line."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["scenario", "case", *PARAM_COLUMNS, "profile", "metric", "close_old", "close_new", "ratio"])
    for c in comparisons:
        params = dict(c.params)
        for key, _, old, new, r in summary_rows(c):
            cells = [_cell(old), _cell(new), "" if r is None else f"{r:.4g}"]
            out.writerow(
                [c.scenario, c.case, *(_cell(params.get(p)) for p in PARAM_COLUMNS), c.old.profile, key, *cells]
            )
    return buf.getvalue()


def _cell(v: Value) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def to_json(comparisons: list[Comparison], profile: str = DEFAULT_PROFILE) -> str:
    """The profile with its cost table (each figure's source), then every comparison's rows and
    per-CPU counters."""
    prof = get_profile(profile)
    doc = {
        "profile": prof.name,
        "profile_description": prof.description,
        "costs": [
            {"primitive": name, "ns": f.ns, "confidence": f.confidence, "source": f.source}
            for name, f in prof.figures()
        ],
        "comparisons": [
            {
                "scenario": c.scenario,
                "case": c.case,
                "params": dict(c.params),
                "metrics": {
                    key: {"close_old": old, "close_new": new, "ratio": r} for key, _, old, new, r in summary_rows(c)
                },
                "per_cpu": {
                    "close_old": [attrs.asdict(x) for x in c.old.per_cpu],
                    "close_new": [attrs.asdict(x) for x in c.new.per_cpu],
                },
            }
            for c in comparisons
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
