"""Per known finding: how the state machines and the explorer find it.

For each finding, the machine whose required events name it (properties/coverage.py) is run
under the ci profile, stopping at the first example that shows it: the time to that example,
and the length Hypothesis shrinks it to. Beside them, the explorer's shortest run on the small
configuration that meets it (tests/test_explorer.py). Prints a table; asserts nothing.

    python benchmarks/findings.py [F1 F2 ...]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from model.small import SMALL, small
from properties import coverage, profiles
from properties.explorer import explore
from properties.findings import FINDINGS
from properties.machines import MACHINES, FindingShown, machine
from spec import State

# A small configuration on which the explorer meets each finding (as in tests/test_explorer.py).
EXPLORED: dict[str, Callable[[], State]] = {
    "F1": lambda: small(skbs=1, errqueue=True),
    "F2": lambda: small(cpus=2, nodes=2, skbs=3, hotplug=True, sysctl=2),
    "F3": SMALL["acceptance"].build,
    "F4": lambda: small(skbs=1, recv=1448, retransmit_fin=True, unread_test="len_sum"),
    "F5": lambda: small(skbs=3, defer_max=0, sysctl=3),
    "F6": lambda: small(sockets=2, skbs=2, defer_max=2, netrx_raises=1),
    "F7": SMALL["acceptance"].build,
    "F8": lambda: small(skbs=3, defer_max=3, sysctl=4),
    "F9": SMALL["zcopy"].build,
    # F10 needs two writes of different values, which small() does not script: its trace is pinned.
}


def main() -> None:
    profiles.load("ci")
    print(f"{'finding':8} {'machine':9} {'seconds':>8} {'shrunk':>7} {'explorer':>9} {'states':>8}")
    for fid in sys.argv[1:] or FINDINGS:
        owner = next((n for n, req in coverage.REQUIRED.items() if f"known {fid}" in req), None)
        seconds, shrunk = "-", "-"
        if owner is not None:
            cls = machine(f"Find{fid}", MACHINES[owner].focus, stop_at=fid)
            t0 = time.perf_counter()
            try:
                run_state_machine_as_test(cls, settings=settings(settings(), max_examples=2000))
            except FindingShown as shown:
                seconds, shrunk = f"{time.perf_counter() - t0:.1f}", str(len(shown.actions))
        shortest, states = "-", "-"
        if fid in EXPLORED:
            result = explore(EXPLORED[fid](), max_seconds=120)
            cx = dict(result.findings).get(fid)
            shortest = "-" if cx is None else f"{cx.step}{'q' if cx.quiescent else ''}"
            states = f"{result.distinct_states:,}"
        print(f"{fid:8} {owner or '-':9} {seconds:>8} {shrunk:>7} {shortest:>9} {states:>8}")
    print("(seconds: ci profile, to the first example showing it, shrinking included; shrunk: its length in steps;")
    print(" explorer: the shortest run, q = at quiescence; '-' where no machine is required to find it)")


if __name__ == "__main__":
    main()
