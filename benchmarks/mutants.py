"""Print, per mutant of the catalogue, the time a state machine takes to find it (no shrinking),
the length of that first counterexample, and the length after Hypothesis's shrinking. Figures to
read, never assertions. Uses the CI profile's fixed seed, so the table is reproducible.

    python benchmarks/mutants.py [NAME ...]
"""

from __future__ import annotations

import sys
import time

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from properties import profiles
from properties.invariants import REGISTRY
from properties.machines import InvariantViolation, machine
from properties.mutants import MUTANTS


def hunt(name: str, invariant: str, shrink: bool) -> tuple[float, int | None]:
    mutant = MUTANTS[name]
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    hunted = machine(f"Bench_{name}", mutant.focus, skip=frozenset(REGISTRY) - {invariant})
    start = time.perf_counter()
    with mutant.applied():
        try:
            run_state_machine_as_test(
                hunted, settings=settings(settings(), max_examples=2000, phases=phases, print_blob=False)
            )
        except InvariantViolation as found:
            return time.perf_counter() - start, len(found.actions)
    return time.perf_counter() - start, None


def main() -> None:
    profiles.load("ci")
    names = sys.argv[1:] or sorted(MUTANTS)
    print(f"{'mutant':28} {'invariant':32} {'found in':>9} {'length':>6} {'shrunk':>6} {'shrink time':>11}")
    for name in names:
        for invariant in MUTANTS[name].invariants:
            t_find, first = hunt(name, invariant, shrink=False)
            t_all, shrunk = hunt(name, invariant, shrink=True)
            print(
                f"{name:28} {invariant:32} {t_find:8.2f}s {first or '-':>6} {shrunk or '-':>6} {t_all - t_find:10.1f}s"
            )


if __name__ == "__main__":
    main()
