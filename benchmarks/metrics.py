"""Print the headline figures of the contention and latency model, and the time the plots take.

The attack (4 sockets x 40 unread skbs built on CPU 0 of the 4cpu-2node machine, closed on CPU 1,
same node, or CPU 2, other node), close-old against close-new under v6.18: per unread skb the
remote frees, line transfers and close() time; then the IPIs, NET_RX runs, fallbacks and skbs left
waiting. close() time per unread skb is repeated for every cost profile. Last, the time to run the
attack's default sweeps (N, K, skb_defer_max) and write their PNGs. Figures to read, never
assertions.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from model.costs import DEFAULT_PROFILE, PROFILES
from model.metrics import Comparison, Metrics
from model.scenarios_metrics import measure_case, plot, run_sweep, scenario


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}" if v < 10 else f"{v:,.0f}"


def _close(m: Metrics) -> str:
    return _n(m.per_skb(sum(m.close_ns)))


def _row(label: str, m: Metrics) -> str:
    return (
        f"{label:28} {_n(m.per_skb(m.total('remote_frees'))):>8} {_n(m.per_skb(m.total('transfers'))):>9} "
        f"{_n(m.per_skb(sum(m.close_ns))):>8} {m.total('ipis_sent'):>5.0f} {m.total('softirq_runs'):>6.0f} "
        f"{m.left_waiting:>7} {m.peak_defer_bytes:>8}  {', '.join(f'{k} {v}' for k, v in m.fallbacks) or '-'}"
    )


def main() -> None:
    sc = scenario("attack")
    print(f"attack: {sc.base.sockets} sockets x {sc.base.skbs} unread skbs, kernel {sc.base.kernel}")
    print(f"profile {DEFAULT_PROFILE}: {PROFILES[DEFAULT_PROFILE].description}")
    print(
        f"{'':28} {'remote':>8} {'transfers':>9} {'close()':>8} {'IPIs':>5} {'NET_RX':>6} "
        f"{'waiting':>7} {'peak B':>8}  fallbacks"
    )
    print(f"{'':28} {'/skb':>8} {'/skb':>9} {'ns/skb':>8}")
    results: dict[str, dict[str, Comparison]] = {}
    for prof in PROFILES:
        results[prof] = {case.label: measure_case(sc, case, sc.base, prof) for case in sc.cases}
    for label, c in results[DEFAULT_PROFILE].items():
        print(_row(f"close-old, {label.split(' ')[0] + ' node'}", c.old))
        print(_row(f"close-new, {label.split(' ')[0] + ' node'}", c.new))
    print("\nclose() ns per unread skb, old -> new, by profile:")
    for prof, cases in results.items():
        cells = [f"{label.split(' ')[0] + ' node'} {_close(c.old)} -> {_close(c.new)}" for label, c in cases.items()]
        print(f"  {prof:12} " + "; ".join(cells))
    t0 = time.perf_counter()
    sweeps = {param: run_sweep(sc, param, values, DEFAULT_PROFILE) for param, values in sc.plot_sweeps}
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for param, sweep in sweeps.items():
            plot(sweep, param, Path(tmp), DEFAULT_PROFILE)
    t2 = time.perf_counter()
    points = sum(len(s) for s in sweeps.values())
    print(f"\nsweeps: {points} comparisons in {t1 - t0:.1f} s; {len(sweeps)} plots written in {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
