"""``tcpclose live``: generated workloads on this machine's kernel, with the spec as the oracle.

Hypothesis draws workloads (model/scenarios_live.py) that this module runs for real over
loopback: connections whose skbs are built on chosen CPUs, then one user thread's steps (reads,
closes, sysctl writes, NET_RX on a CPU, and with ``--hotplug`` a CPU going offline and back).
The trace of the run (live/observe.py) is held against the spec's runs of the same workload.

Phase 1 checks every property on every generated example. Phase 2 shrinks, on the live kernel,
one divergence per property that diverged: ``hypothesis.find`` with the same seed regenerates
the same examples (answered from a cache, without running them again) up to the divergent one,
then tries smaller workloads, each run live. A divergence counts only when a second live run of
the same workload shows it too (other traffic on a shared machine can disturb one run). The
minimal workload is written as a JSON live log beside the spec's two runs as trace files
(``tcpclose replay`` tells them step by step).

Every example starts from re-armed slots: after its steps, a one-skb deferral to each CPU at
the original maximum either goes through (and the NET_RX that follows flushes it, which resets
the slot) or is refused (the slot is wedged, F5: reported, then re-armed with a maximum above
any count).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from random import Random
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, example, find, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from live import kernel as K
from live.hotplug import f2_race
from live.machine import LiveUnavailable, Machine, Saved, check_environment, guarded
from live.observe import PROPERTIES, Observation, applies, compare, windows
from model.scenarios_live import DEFER_MAXES, MAX_WRITES, Allowed, Conn, Step, Workload, allowed, normalize
from properties import traces
from spec import SpecError

EVENTS = ("csd/csd_queue_cpu", "csd/csd_function_entry", "irq/softirq_entry", "skb/consume_skb")
FILTERS = {
    "csd/csd_queue_cpu": "func.function == trigger_rx_softirq",
    "csd/csd_function_entry": "func.function == trigger_rx_softirq",
    "irq/softirq_entry": "vec == 3",
    "skb/consume_skb": "location.function == skb_defer_free_flush",
}
REARM_MAX = 1 << 30  # above any count a slot can reach in a run


# -- the strategy ----------------------------------------------------------------------------------


def workloads(cpus: int, hotplug: tuple[int, ...]) -> st.SearchStrategy[Workload]:
    """Workloads for a ``cpus``-CPU machine; ``hotplug``: the CPUs that may go offline."""
    cpu = st.integers(0, cpus - 1)

    @st.composite
    def build(draw: st.DrawFn) -> Workload:
        # Full windows half the time, and up to 8 connections: 63 attempts at a small maximum
        # wedge a slot at the default 64 (F5).
        writes = st.one_of(st.integers(1, MAX_WRITES), st.just(MAX_WRITES))  # shrinks toward 1
        conns = draw(st.lists(st.builds(Conn, cpu, writes), min_size=1, max_size=8))
        conn = st.integers(0, len(conns) - 1)
        read = st.builds(Step, st.just("read"), conn, cpu, st.integers(1, MAX_WRITES))
        sysctl = st.builds(Step, st.just("sysctl"), value=st.sampled_from(DEFER_MAXES))
        # NET_RX first: shrinking moves toward the first branch, the step that changes least.
        # Reads and sysctl writes twice: short early examples should still have them.
        kinds = [st.builds(Step, st.just("netrx"), cpu=cpu), read, read, sysctl, sysctl]
        if hotplug:
            kinds += [st.builds(Step, st.sampled_from(["offline", "online"]), cpu=st.sampled_from(hotplug))]
        drawn = draw(st.lists(st.one_of(kinds), min_size=1, max_size=8))
        # One close per connection; ``value`` places it among the drawn steps.
        closes = [Step("close", i, draw(cpu), draw(st.integers(0, len(drawn)))) for i in range(len(conns))]
        return normalize(draw(st.sampled_from(DEFER_MAXES)), conns, drawn, closes, cpus)

    return build()


def explicit(cpus: int, hotplug: tuple[int, ...]) -> list[Workload]:
    """Shapes every run checks besides the generated ones, so that the properties never hold by
    vacuity: the probe's attack at a kicking maximum; 70 closes at maximum 0, which wedge CPU 0's
    slot at the default maximum 64 (F5); with hotplug, skbs deferred to a CPU that then goes
    offline and comes back before the drain."""
    other = 1 % cpus
    out = [
        normalize(3, [Conn(0, MAX_WRITES)] * 4, [], [Step("close", i, other, 0) for i in range(4)], cpus),
        normalize(0, [Conn(0, MAX_WRITES)] * 7, [], [Step("close", i, other, 0) for i in range(7)], cpus),
    ]
    if hotplug:
        x = hotplug[0]
        away = next(c for c in range(cpus) if c != x)
        steps = [Step("offline", cpu=x), Step("online", cpu=x)]
        closes = [Step("close", 0, away, 0), Step("close", 1, away, 1)]  # before the offline, and while offline
        out.append(normalize(64, [Conn(x, 5), Conn(x, 5)], steps, closes, cpus))
    return out


# -- one example on the kernel ---------------------------------------------------------------------


class Discarded(Exception):
    """The connections did not hold the skbs the workload needs (checked before any step)."""


@attrs.define
class Runner:
    """Runs workloads on the kernel, with the tracer, the saved state and the calibration."""

    machine: Machine
    saved: Saved
    tracer: K.Tracer
    truesize: int
    original: int
    cpus: int
    wedges: list[tuple[str, int]] = attrs.field(factory=list)  # (workload, CPU) of every wedge seen
    runs: int = 0

    def observe(self, w: Workload) -> Observation:
        """Run ``w`` once on the kernel and read what it did."""
        self.runs += 1
        ours: set[int] = set()
        lst, senders, receivers = K.connections(len(w.conns) + 2 * self.cpus)
        try:
            # Workload connections, then per CPU one for the wedge probe and one for re-arming.
            builders = [c.sender for c in w.conns] + [x for x in range(self.cpus)] * 2
            writes = [c.writes for c in w.conns] + [1] * 2 * self.cpus
            for s, cpu, n in zip(senders, builders, writes, strict=True):
                K.pinned(cpu, lambda s=s, n=n: K.send_all([s], n))  # type: ignore[misc]
            time.sleep(K.ACK_WAIT)
            for r, n in zip(receivers, writes, strict=True):
                rmem, left = K.rmem_and_unread(r)
                if left != n * K.SEGMENT or rmem != n * self.truesize:
                    raise Discarded(f"a receiver holds {left} bytes in {rmem} bytes of truesize, not {n} skb(s)")
            mem_before = self._sockstat_mem()
            self.machine.write_defer_max(w.defer_max)
            self.tracer.clear()
            meminfo = []
            for i, step in enumerate(w.steps):
                self.tracer.mark(f"tcpclose step {i}")
                if step.is_call:
                    meminfo.append(K.meminfo(receivers[step.conn]))
                self._do(step, receivers, ours)
                time.sleep(K.SETTLE if step.is_call else 0)
            time.sleep(K.SETTLE)
            # The wedge probe: one skb per CPU x, closed elsewhere at the original maximum, then NET_RX on x.
            self.tracer.mark("tcpclose probe")
            self.machine.write_defer_max(self.original)
            probe = receivers[len(w.conns) : len(w.conns) + self.cpus]
            for x in range(self.cpus):
                K.pinned(self._other(x), probe[x].close, ours)
                K.netrx(x)
            time.sleep(K.SETTLE)
            self.tracer.mark("tcpclose end")
            text = self.tracer.text()
            obs = Observation(
                w, self.truesize, self.cpus, self.original,
                tuple(windows(text, self.cpus, len(w.steps), ours)), tuple(meminfo),
                (mem_before, 0), text,
            )  # fmt: skip
            wedged = [x for x in range(self.cpus) if obs.wedged(x)]
            for x in wedged:
                self.wedges.append((w.describe(), x))
            if wedged:
                self._rearm(wedged, receivers[len(w.conns) + self.cpus :])
            K.close_quietly((*senders, *receivers, lst))
            time.sleep(K.SETTLE)
            return attrs.evolve(obs, sockstat_mem=(mem_before, self._sockstat_mem()))
        finally:
            K.close_quietly((*senders, *receivers, lst))
            self.machine.write_defer_max(self.original)

    def _do(self, step: Step, receivers: list[socket.socket], ours: set[int]) -> None:
        r = receivers[step.conn] if step.conn >= 0 else None
        match step.kind:
            case "read":
                assert r is not None
                K.pinned(step.cpu, lambda: _read(r, step.value * K.SEGMENT), ours)
            case "close":
                assert r is not None
                K.pinned(step.cpu, r.close, ours)
            case "sysctl":
                self.machine.write_defer_max(step.value)
            case "netrx":
                K.netrx(step.cpu)
            case "offline" | "online":
                self.machine.set_online(step.cpu, step.kind == "online")

    def _other(self, x: int) -> int:
        return next(c for c in range(self.cpus) if c != x and self.machine.is_online(c))

    def _rearm(self, cpus: list[int], spare: list[socket.socket]) -> None:
        """Un-wedge each slot: a maximum above any count, one deferred skb, NET_RX to flush it
        (a flush of a non-empty list resets the count)."""
        self.machine.write_defer_max(REARM_MAX)
        try:
            for x in cpus:
                K.pinned(self._other(x), spare[x].close)
                K.netrx(x)
        finally:
            self.machine.write_defer_max(self.original)

    def _sockstat_mem(self) -> int:
        return K.parse_sockstat(self.machine.proc("net/sockstat").read_text()).get("TCP", {}).get("mem", -1)

    def rearm_all(self) -> None:
        """Before the first example: every slot re-armed, whatever earlier runs left."""
        lst, senders, receivers = K.connections(self.cpus)
        try:
            for x in range(self.cpus):
                K.pinned(x, lambda x=x: K.send_all([senders[x]], 1))  # type: ignore[misc]
            time.sleep(K.ACK_WAIT)
            self._rearm(list(range(self.cpus)), receivers)
        finally:
            K.close_quietly((*senders, *receivers, lst))


def _read(r: socket.socket, nbytes: int) -> None:
    r.recv(nbytes, socket.MSG_WAITALL)


# -- examining, with confirmation ------------------------------------------------------------------


@attrs.frozen
class Examined:
    workload: Workload
    allowed: Allowed | None  # None: discarded (no observations) or the spec could not run it
    observations: tuple[Observation, ...]
    divergences: dict[str, str]  # confirmed: shown by every observation
    unconfirmed: tuple[str, ...]  # shown by the first observation only
    runs: Any = attrs.field(default=None, eq=False, repr=False)  # the spec's runs (for the trace files)


def examine(runner: Runner, w: Workload) -> Examined:
    try:
        first = runner.observe(w)
    except Discarded:
        return Examined(w, None, (), {}, ())
    try:
        spec, runs = allowed(w, runner.truesize, runner.cpus, first.env_netrx, runner.original)
    except SpecError as err:  # the kernel did something the spec's script cannot follow
        return Examined(w, None, (first,), {"spec_replay": str(err)}, ())
    found = compare(first, spec)
    if not found:
        return Examined(w, spec, (first,), {}, (), runs)
    try:
        second = runner.observe(w)
        spec2, _ = allowed(w, runner.truesize, runner.cpus, second.env_netrx, runner.original)
    except (Discarded, SpecError):
        return Examined(w, spec, (first,), {}, tuple(found), runs)
    again = compare(second, spec2)
    confirmed = {k: f"{v} (second run: {again[k]})" for k, v in found.items() if k in again}
    return Examined(w, spec, (first, second), confirmed, tuple(k for k in found if k not in again), runs)


# -- the whole command -----------------------------------------------------------------------------


@attrs.frozen
class PropertyResult:
    name: str
    examples: int  # phase-1 examples the property applied to
    diverged: int  # of them, confirmed divergences
    unconfirmed: int  # divergences a second run did not show
    minimal: str | None = None  # the shrunk workload
    detail: str | None = None
    files: tuple[str, ...] = ()
    blame: str | None = None


COVERAGE: dict[str, Callable[[Examined], bool]] = {
    "the kernel kicked": lambda e: any(any(o.total("ipis")) for o in e.observations),
    "the kernel deferred": lambda e: any(any(o.total("flush_frees")) for o in e.observations),
    "a read ate skbs": lambda e: any(s.kind == "read" for s in e.workload.steps),
    "skb_defer_max written": lambda e: any(s.kind == "sysctl" for s in e.workload.steps),
    "a CPU went offline": lambda e: any(s.kind == "offline" for s in e.workload.steps),
    "the spec wedges a slot": lambda e: (
        e.allowed is not None and any(True in e.allowed.wedged(c) for c in range(len(e.allowed.outcomes["late"].ipis)))
    ),
    "a wedge was seen": lambda e: any(o.wedged(c) for o in e.observations for c in range(o.cpus)),
}


@attrs.frozen
class LiveReport:
    examples: int  # phase-1 examples run (not discarded): the explicit shapes, then the generated ones
    discarded: int
    runs: int  # live runs in all (confirmations and shrinking included)
    seconds: float
    original: int
    truesize: int
    properties: tuple[PropertyResult, ...]
    wedges: tuple[tuple[str, int], ...]
    coverage: tuple[tuple[str, int], ...] = ()  # (event, examples that reached it): no green by vacuity
    sockstat_delta: tuple[int, int] = (0, 0)  # the least and most change of TCP mem (pages) across an example
    hotplug: Any = None  # live.hotplug.F2Result when --hotplug
    restored: bool = True


def live(
    *, machine: Machine, examples: int, seed: int, hotplug: bool, shrink_seconds: float = 45.0,
    progress: Callable[[str], None] = lambda _: None, out_dir: Path | None = None,
) -> LiveReport:  # fmt: skip
    check_environment(machine, "tcpclose live")
    if examples < 1:
        raise LiveUnavailable("--examples must be at least 1")
    hot = machine.hotpluggable() if hotplug else ()
    if hotplug and not hot:
        raise LiveUnavailable("--hotplug: no CPU of this machine can go offline (no cpuN/online file)")
    start = time.monotonic()
    with guarded(machine) as saved:
        if not saved.mount():
            raise LiveUnavailable(f"tracefs cannot be mounted at {machine.tracefs}")
        tracer = K.Tracer(saved.instance(f"tcpclose-live-{abs(hash(start)) % 10**6}"))
        tracer.enable(EVENTS, FILTERS)
        original = saved.defer_max
        truesize = K.calibrate_truesize(0)
        if truesize is None:
            raise LiveUnavailable("could not calibrate the truesize of a 1000-byte skb")
        runner = Runner(machine, saved, tracer, truesize, original, machine.cpus())
        progress("re-arming every slot")
        runner.rearm_all()
        shapes = explicit(runner.cpus, hot)
        report = _hunt(runner, workloads(runner.cpus, hot), shapes, examples, seed, shrink_seconds, progress, out_dir)
        f2 = None
        if hotplug:
            progress("racing kicks against CPU offline (F2)")
            f2 = f2_race(machine, tracer, original, hot[0])
    restored_ok = (
        machine.read_defer_max() == saved.defer_max
        and all(machine.is_online(c) == on for c, on in saved.online.items())
    )  # fmt: skip
    return attrs.evolve(report, seconds=time.monotonic() - start, hotplug=f2, restored=restored_ok)


def _hunt(
    runner: Runner, strategy: st.SearchStrategy[Workload], shapes: list[Workload], examples: int, seed: int,
    shrink_seconds: float, progress: Callable[[str], None], out_dir: Path | None,
) -> LiveReport:  # fmt: skip
    cache: dict[Workload, Examined] = {}
    phase1: list[Examined] = []

    def cached(w: Workload) -> Examined:
        if w not in cache:
            cache[w] = examine(runner, w)
        return cache[w]

    @hypothesis_seed(seed)
    @settings(max_examples=examples, phases=[Phase.explicit, Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def generate(w: Workload) -> None:
        progress(f"example {len(phase1) + 1}/{examples + len(shapes)}: {w.describe()[:90]}")
        phase1.append(cached(w))

    for shape in shapes:
        generate = example(shape)(generate)
    generate()
    kept = [e for e in phase1 if e.observations]
    results = []
    for name in PROPERTIES:
        applied = [e for e in kept if applies(name, e.allowed)]
        bad = [e for e in applied if name in e.divergences]
        result = PropertyResult(name, len(applied), len(bad), sum(1 for e in applied if name in e.unconfirmed))
        if bad:
            progress(f"shrinking the divergence of {name} on the live kernel")
            result = _shrink(strategy, name, bad[0], seed, examples, shrink_seconds, cache, cached, out_dir, result)
        results.append(result)
    coverage = tuple((name, sum(1 for e in kept if reached(e))) for name, reached in COVERAGE.items())
    deltas = [o.sockstat_mem[1] - o.sockstat_mem[0] for e in kept for o in e.observations] or [0]
    return LiveReport(len(kept), len(phase1) - len(kept), runner.runs, 0.0, runner.original, runner.truesize,
                      tuple(results), tuple(runner.wedges), coverage, (min(deltas), max(deltas)))  # fmt: skip


def _shrink(
    strategy: st.SearchStrategy[Workload], name: str, first: Examined, seed: int, examples: int, budget: float,
    known: dict[Workload, Examined], cached: Callable[[Workload], Examined], out_dir: Path | None,
    result: PropertyResult,
) -> PropertyResult:  # fmt: skip
    deadline = time.monotonic() + budget
    smallest = first

    def diverges(w: Workload) -> bool:
        nonlocal smallest
        if time.monotonic() > deadline and w not in known:
            return False  # out of time: only what is known still counts
        e = cached(w)
        if name in e.divergences:
            if _size(w) <= _size(smallest.workload):
                smallest = e
            return True
        return False

    with contextlib.suppress(NoSuchExample):
        find(strategy, diverges, settings=settings(max_examples=examples, database=None, deadline=None,
             suppress_health_check=list(HealthCheck)), random=Random(seed))  # fmt: skip
    files = write_divergence(smallest, name, out_dir)
    return attrs.evolve(
        result, minimal=smallest.workload.describe(), detail=smallest.divergences[name],
        files=tuple(str(f) for f in files), blame=blame(name, smallest),
    )  # fmt: skip


def _size(w: Workload) -> tuple[int, int, int]:
    return (len(w.steps), len(w.conns), sum(c.writes for c in w.conns))


def blame(name: str, e: Examined) -> str:
    """Who is wrong, as far as the run can tell: the kernel is the reference for what it does;
    the spec is wrong where it does not model that, unless the kernel breaks FACTS."""
    match name:
        case "no_deferral_where_forbidden":
            return (
                "the kernel, against FACTS §7 (skb_defer_max 0 and 1 disable deferral, and the count only "
                "reaches the maximum as the spec says), unless traffic from another process deferred to us"
            )
        case "defer_ipis" | "deferred_skbs":
            return (
                "the spec: this kernel kicks or defers outside every schedule the spec allows for the same "
                "calls and NET_RX runs (seen twice); the spec's rules of FACTS §7-§9 miss something here"
            )
        case "wedged_slots":
            return "the spec: the kernel's slot count after the run is not the one the spec's rules leave (F5)"
        case "spec_replay":
            return "the spec: its script cannot follow what the kernel did (a NET_RX, hotplug or sysctl event)"
        case "sk_rmem_alloc":
            return "the kernel, against FACTS §12 (sk_rmem_alloc is the truesize sum of the charged skbs)"
        case _:
            return (
                "the spec or FACTS §2-§3: the kernel's sk_forward_alloc is not the remainder of the pages the "
                "spec's reservation rule leaves (a segment coalesced into the previous skb is charged only "
                "its truesize difference: check that each write arrived as one skb)"
            )


def write_divergence(e: Examined, name: str, out_dir: Path | None) -> list[Path]:
    """The spec's two runs as trace files, and the live log (workload, observations, what the
    spec allows, the raw traces) as JSON."""
    out = out_dir or traces.trace_dir()
    digest = hashlib.sha256(repr(e.workload).encode()).hexdigest()[:10]
    files = []
    for schedule, r in (e.runs or {}).items():
        note = f"tcpclose live: {name} diverged; the spec's {schedule} run of: {e.workload.describe()}"
        trace = traces.Trace(r.initial, r.actions, found_by=f"live-{schedule}", note=note)
        files.append(traces.write(trace, out / f"live-{name}-{digest}.{schedule}.json"))
    body = {
        "property": name, "promise": PROPERTIES[name], "divergence": e.divergences[name], "blame": blame(name, e),
        "workload": attrs.asdict(e.workload), "describe": e.workload.describe(),
        "allowed": {k: attrs.asdict(o) for k, o in (e.allowed.outcomes.items() if e.allowed else ())},
        "observations": [attrs.asdict(o) for o in e.observations],
        "spec_traces": [str(f) for f in files],
    }  # fmt: skip
    log = out / f"live-{name}-{digest}.log.json"
    out.mkdir(parents=True, exist_ok=True)
    log.write_text(json.dumps(body, indent=1) + "\n")
    return [log, *files]
