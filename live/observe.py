"""What a live run saw, cut into the windows of its steps, and held against what the spec allows.

Pure: it reads a trace text and the records of model/scenarios_live.py, so it is tested on
recorded samples. The trace (a tracefs instance of ours) holds four filtered events and our
markers:

- ``csd_queue_cpu`` with func ``trigger_rx_softirq``: a defer IPI queued (by the thread named in
  the event: ours when it is one of the threads the run made its calls from);
- ``csd_function_entry`` with the same func: that IPI's handler running on its CPU;
- ``softirq_entry`` of NET_RX: a NET_RX run (a flush of that CPU's slots);
- ``consume_skb`` at ``skb_defer_free_flush``: one deferred skb freed by a flush;
- ``tracing_mark_write`` ``tcpclose step N`` / ``tcpclose probe`` / ``tcpclose end``.

A NET_RX run on CPU x is the IPI's when the IPI handler ran on x since x's previous run;
otherwise it is the environment's (the step's own NET_RX, the RST or FIN a close sends over
loopback, an ACK, or other traffic) and the spec is told of it.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

from live.kernel import parse_trace
from model.scenarios_live import Allowed, Workload

_STEP = re.compile(r"tcpclose (step (\d+)|probe|end)")


@attrs.frozen
class Window:
    """The events of one step (``step`` -1: the wedge probe after the steps)."""

    step: int
    ipis: tuple[int, ...]  # defer IPIs queued by our threads, per target CPU
    foreign_ipis: tuple[int, ...]  # queued by other threads (other traffic: the run is disturbed)
    env_netrx: tuple[int, ...]  # CPUs of NET_RX runs no defer IPI explains, in order
    flush_frees: tuple[int, ...]  # skbs freed by a flush, per CPU


def windows(trace_text: str, cpus: int, steps: int, ours: set[int]) -> list[Window]:
    """``steps`` windows, then the probe's."""
    ipis = [[0] * cpus for _ in range(steps + 1)]
    foreign = [[0] * cpus for _ in range(steps + 1)]
    frees = [[0] * cpus for _ in range(steps + 1)]
    env: list[list[int]] = [[] for _ in range(steps + 1)]
    handled = [False] * cpus
    current: int | None = None
    for e in parse_trace(trace_text):
        if (mark := e.marker) is not None:
            m = _STEP.search(mark)
            if m is not None:
                current = int(m.group(2)) if m.group(2) else (steps if m.group(1) == "probe" else None)
            continue
        if current is None or not 0 <= e.cpu < cpus:
            continue
        if e.is_defer_ipi and 0 <= e.target < cpus:
            (ipis if e.pid in ours else foreign)[current][e.target] += 1
        elif e.event == "csd_function_entry":
            handled[e.cpu] = True
        elif e.is_net_rx:
            if handled[e.cpu]:
                handled[e.cpu] = False
            else:
                env[current].append(e.cpu)
        elif e.is_flush_free:
            frees[current][e.cpu] += 1
    return [
        Window(i if i < steps else -1, tuple(ipis[i]), tuple(foreign[i]), tuple(env[i]), tuple(frees[i]))
        for i in range(steps + 1)
    ]


@attrs.frozen
class Observation:
    """One live run of a workload."""

    workload: Workload
    truesize: int
    cpus: int
    original: int  # skb_defer_max before the run, restored for the wedge probe
    windows: tuple[Window, ...]  # one per step, then the wedge probe's
    meminfo: tuple[tuple[int, int], ...]  # SO_MEMINFO (rmem, fwd) before each call
    sockstat_mem: tuple[int, int]  # /proc/net/sockstat TCP mem (pages) before and after
    trace: str = attrs.field(repr=False)

    @property
    def steps(self) -> tuple[Window, ...]:
        return self.windows[:-1]

    def total(self, what: Literal["ipis", "flush_frees", "foreign_ipis"]) -> tuple[int, ...]:
        return tuple(sum(getattr(w, what)[c] for w in self.steps) for c in range(self.cpus))

    @property
    def env_netrx(self) -> list[tuple[int, ...]]:
        return [w.env_netrx for w in self.steps]

    def wedged(self, cpu: int) -> bool:
        """The one-skb deferral to ``cpu`` at the original maximum was refused: no flush freed it."""
        return self.windows[-1].flush_frees[cpu] == 0


# The properties, in the order a divergence is raised (the most specific first).
PROPERTIES: dict[str, str] = {
    "no_deferral_where_forbidden": "no IPI and no deferred skb where every schedule of the spec defers nothing",
    "defer_ipis": "defer IPIs to each CPU within the spec's range (every IPI at once .. every IPI late)",
    "deferred_skbs": "skbs freed by a flush on each CPU within the spec's range",
    "wedged_slots": "after the run, a one-skb deferral at the original maximum is refused iff the spec says "
    "the slot's count reached it with an empty list (F5)",
    "sk_rmem_alloc": "SO_MEMINFO rmem before each call equals the spec's sk_rmem_alloc",
    "sk_forward_alloc": "SO_MEMINFO fwd_alloc before each call equals the spec's sk_forward_alloc",
    "spec_replay": "the spec can run the workload with the NET_RX runs the kernel showed",
}


def applies(name: str, allowed: Allowed | None) -> bool:
    """Whether a property was checked on an example (``allowed`` None: the spec could not run it)."""
    if name == "spec_replay":
        return True
    if allowed is None:
        return False
    return name != "no_deferral_where_forbidden" or allowed.forbids_deferral


def compare(obs: Observation, allowed: Allowed) -> dict[str, str]:
    """Property name -> what diverged (only the properties that did)."""
    out: dict[str, str] = {}
    ipis, frees = obs.total("ipis"), obs.total("flush_frees")
    if allowed.forbids_deferral and (any(ipis) or any(frees)):
        out["no_deferral_where_forbidden"] = (
            f"the spec defers nothing in any schedule; the kernel queued IPIs {list(ipis)} and flushed "
            f"{list(frees)} skb(s) per CPU"
        )
    for name, seen in (("defer_ipis", ipis), ("deferred_skbs", frees)):
        what: Literal["ipis", "deferred"] = "ipis" if name == "defer_ipis" else "deferred"
        bad = [
            f"CPU {c}: {seen[c]} not in {lo}..{hi}"
            for c in range(obs.cpus)
            for lo, hi in [allowed.range(what, c)]
            if not lo <= seen[c] <= hi
        ]
        if bad:
            out[name] = "; ".join(bad)
    wedges = [
        f"CPU {c}: {'refused' if obs.wedged(c) else 'deferred'}, the spec says "
        + " or ".join("refused" if v else "deferred" for v in sorted(allowed.wedged(c)))
        for c in range(obs.cpus)
        if obs.wedged(c) not in allowed.wedged(c)
    ]
    if wedges:
        out["wedged_slots"] = "; ".join(wedges)
    calls = [s for s in obs.workload.steps if s.is_call]
    for name, index in (("sk_rmem_alloc", 0), ("sk_forward_alloc", 1)):
        bad = [
            f"before {s}: {seen[index]} (spec {spec[index]})"
            for s, seen, spec in zip(calls, obs.meminfo, allowed.meminfo, strict=False)
            if seen[index] != spec[index]
        ]
        if bad:
            out[name] = f"{len(bad)} of {len(calls)} call(s), first " + bad[0]
    return out
