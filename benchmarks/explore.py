"""Print what the exhaustive explorer costs and finds. Figures to watch, never an assertion.

- the acceptance configuration of model/small.py (2 CPUs on 2 nodes, one socket with 3 unread
  skbs built on CPU 0 and closed on CPU 1, skb_defer_max 4, hotplug with the hotplug flush, one
  write of skb_defer_max): first the shortest violation of the unmodified spec, then a complete
  search with the reachable findings' invariants skipped: distinct states, transitions, depth,
  states/s, peak memory;
- a larger configuration for scale (3 CPUs on 2 nodes, two sockets x 2 skbs closed on CPUs 1
  and 2, skb_defer_max 3);
- per mutant and invariant of properties/mutants.py: the length of the explorer's shortest
  counterexample on the mutant's configuration (model/small.py: FOR_MUTANT).

Run: ``python benchmarks/explore.py``.
"""

from __future__ import annotations

import sys

from model.small import SMALL, for_mutant, small
from properties import profiles
from properties.explorer import ExploreResult, explore
from properties.machines import InvariantViolation
from properties.mutants import MUTANTS, hunt


def figures(label: str, result: ExploreResult) -> None:
    print(f"{label}:")
    print(f"  distinct states   {result.distinct_states:>12,}")
    print(f"  transitions       {result.transitions:>12,}")
    print(f"  depth             {result.depth:>12}")
    print(f"  quiescent states  {result.quiescent_states:>12,}")
    print(f"  seconds           {result.seconds:>12.2f}")
    print(f"  states/s          {result.states_per_second:>12,.0f}")
    print(f"  peak RSS          {result.peak_memory_bytes / 2**20:>10.0f} MiB")
    if result.violation is not None:
        v = result.violation
        where = "quiescent state" if v.quiescent else f"step {v.step}"
        print(f"  result            {v.invariant} violated at {where}: {v.message}")
        print(f"  actions           {list(v.actions)}")
    else:
        print(f"  result            {'complete, no violation' if result.complete else result.reason}")
    print(f"  known findings    {', '.join(fid for fid, _ in result.findings) or 'none'}")


def main() -> None:
    acceptance = SMALL["acceptance"].build()
    figures("acceptance, every invariant checked", explore(acceptance))
    scale = small(cpus=3, nodes=2, sockets=2, skbs=2, defer_max=3)
    figures("3 CPUs on 2 nodes, 2 sockets x 2 skbs, skb_defer_max 3", explore(scale))
    print()
    # With --hypothesis, beside each shortest run the length Hypothesis shrinks the same mutant to
    # (benchmarks/mutants.py's hunt, CI profile; a few seconds per mutant).
    with_hypothesis = "--hypothesis" in sys.argv[1:]
    if with_hypothesis:
        profiles.load("ci")
    extra = f" {'hypothesis':>10}" if with_hypothesis else ""
    print(f"{'mutant':28} {'invariant':30} {'skbs':>4} {'states':>7} {'shortest':>8}{extra}")
    for mutant in MUTANTS.values():
        for inv in mutant.invariants:
            config = for_mutant(mutant.name, inv)
            with mutant.applied():
                result = explore(config.build(), only=frozenset({inv}), max_seconds=60)
            v = result.violation
            shortest = "-" if v is None or v.invariant != inv else str(v.step) + ("q" if v.quiescent else "")
            shrunk = ""
            if with_hypothesis:
                found = hunt(mutant.name, inv, shrink=True)
                shrunk = f" {len(found.actions) if isinstance(found, InvariantViolation) else '-':>10}"
            print(f"{mutant.name:28} {inv:30} {config.skbs:>4} {result.distinct_states:>7,} {shortest:>8}{shrunk}")
    print("(shortest: actions in the explorer's shortest counterexample; q: violated at quiescence)")


if __name__ == "__main__":
    main()
