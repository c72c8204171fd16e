"""Print, per mutant of the catalogue, the time a state machine takes to find it (no shrinking),
the length of that first counterexample, and the length after Hypothesis's shrinking. Figures to
read, never assertions. Uses the CI profile's fixed seed, so the table is reproducible.

    python benchmarks/mutants.py [NAME ...]
"""

from __future__ import annotations

import sys
import time

from properties import profiles
from properties.machines import InvariantViolation
from properties.mutants import MUTANTS, hunt


def timed_hunt(name: str, invariant: str, shrink: bool) -> tuple[float, int | None]:
    start = time.perf_counter()
    found = hunt(name, invariant, shrink=shrink)
    return time.perf_counter() - start, len(found.actions) if isinstance(found, InvariantViolation) else None


def main() -> None:
    profiles.load("ci")
    names = sys.argv[1:] or sorted(MUTANTS)
    print(f"{'mutant':28} {'invariant':32} {'found in':>9} {'length':>6} {'shrunk':>6} {'shrink time':>11}")
    for name in names:
        for invariant in MUTANTS[name].invariants:
            t_find, first = timed_hunt(name, invariant, shrink=False)
            t_all, shrunk = timed_hunt(name, invariant, shrink=True)
            print(
                f"{name:28} {invariant:32} {t_find:8.2f}s {first or '-':>6} {shrunk or '-':>6} {t_all - t_find:10.1f}s"
            )


if __name__ == "__main__":
    main()
