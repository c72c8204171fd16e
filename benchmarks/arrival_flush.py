"""Print what the arrival flush (909876500251, FACTS §14) changes in the close-new figures.

Each row measures one scenario's close-new run twice, with the same workload and schedule: with
the spec as it is (every NET_RX run that delivers a packet flushes the CPU's slots first) and
with the mutant ``arrival_skips_flush`` of properties/mutants.py (the packet is built at once,
as the spec modelled it before issue 13). Scenarios: the attack (4 sockets x 40 unread skbs,
the sockets in turn: socket k's packets arrive after socket k - 1's close), its burst shape
(every packet first), and recvmsg (40 segments, each read before the next arrives). Figures to
read, never assertions.
"""

from __future__ import annotations

from collections.abc import Callable

from model.metrics import Metrics
from model.scenarios_metrics import measure_case, scenario
from properties.mutants import MUTANTS

KEYS: tuple[tuple[str, str, Callable[[Metrics], float | int | None]], ...] = (
    ("ipis_sent", "IPIs", lambda m: m.total("ipis_sent")),
    ("left_waiting", "left waiting", lambda m: m.left_waiting),
    ("handoff_p50", "hand-off p50 ns", lambda m: m.percentile(50)),
    ("handoff_p99", "hand-off p99 ns", lambda m: m.percentile(99)),
    ("peak", "peak defer bytes", lambda m: m.peak_defer_bytes),
    ("transfers", "line transfers", lambda m: m.total("transfers")),
    ("rx_flush_runs", "arrival flushes", lambda m: m.total("rx_flush_runs")),
    ("cpu_ns", "CPU ns", lambda m: m.total("busy_ns")),
)


def _fmt(v: float | int | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def main() -> None:
    print(f"{'scenario / case':38} {'figure':18} {'no arrival flush':>17} {'arrival flush':>14}")
    for name in ("attack", "burst", "recvmsg"):
        sc = scenario(name)
        for case in sc.cases:
            with_flush: Metrics = measure_case(sc, case, sc.base, "intel-2s").new
            with MUTANTS["arrival_skips_flush"].applied():
                without: Metrics = measure_case(sc, case, sc.base, "intel-2s").new
            for _, label, get in KEYS:
                print(f"{name + ' / ' + case.label:38} {label:18} {_fmt(get(without)):>17} {_fmt(get(with_flush)):>14}")


if __name__ == "__main__":
    main()
