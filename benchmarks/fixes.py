"""The candidate fixes of the findings: evidence and cost.

For each kernel with candidate fixes (model/kernels.py ``v7.3+...``): the findings it claims to
remove, the explorer's searches of model/fixes.py EVIDENCE re-run (each configuration's states and
the findings met on v7.3 and with the fix, with the time taken), and the fix's cost on the attack
scenario from the metrics model (model/fix_costs.py: atomics and IPIs per unread skb, close() ns
per unread skb). With ``--larger`` also the larger-env configuration on v7.3+fixes (about 45 s).
Prints tables; asserts nothing.

    python benchmarks/fixes.py [--larger]
"""

from __future__ import annotations

import sys
import time

from model.fix_costs import costs
from model.fixes import EVIDENCE
from model.kernels import KERNELS
from model.small import SMALL
from properties.explorer import explore


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def main(argv: list[str]) -> None:
    print("cost on the attack scenario (4 sockets x 40 unread skbs built on CPU 0, closed on CPU 1):")
    print(f"{'kernel':40} {'atomics/skb':>12} {'IPIs/skb':>9} {'close ns/skb':>13} {'fallbacks':>9}  fixes")
    for c in costs():
        fixes = ", ".join(KERNELS[c.kernel].fixes)
        print(f"{c.kernel:40} {_fmt(c.atomics_per_skb):>12} {_fmt(c.ipis_per_skb, 4):>9} "
              f"{_fmt(c.close_ns_per_skb, 1):>13} {c.fallbacks:>9}  {fixes}")  # fmt: skip
    print()
    print("exhaustive searches (findings met on v7.3 -> with the fix):")
    for kernel, ev in EVIDENCE.items():
        for run in ev.runs:
            t0 = time.perf_counter()
            before = explore(SMALL[run.config].build(kernel="v7.3"))
            after = explore(SMALL[run.config].build(kernel=kernel))
            met = [", ".join(f for f, _ in r.findings) or "none" for r in (before, after)]
            print(f"{kernel:40} {run.config:13} {after.distinct_states:>8,} states "
                  f"({'complete' if after.complete else 'INCOMPLETE'}), {met[0]} -> {met[1]} "
                  f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
    if "--larger" in argv:
        result = explore(SMALL["larger-env"].build(kernel="v7.3+fixes"))
        print(f"v7.3+fixes larger-env: {result.summary()}")


if __name__ == "__main__":
    main(sys.argv[1:])
