"""Print what the exhaustive explorer costs and finds. Figures to watch, never an assertion.

- the acceptance configuration of model/small.py (2 CPUs on 2 nodes, one socket with 3 unread
  skbs built on CPU 0 and closed on CPU 1, skb_defer_max 4, hotplug with the hotplug flush, one
  write of skb_defer_max): first the shortest violation of the unmodified spec, then a complete
  search with the reachable findings' invariants skipped: distinct states, transitions, depth,
  states/s, peak memory;
- a larger configuration for scale (3 CPUs on 2 nodes, two sockets x 2 skbs closed on CPUs 1
  and 2, skb_defer_max 3);
- per mutant and invariant of properties/mutants.py: the length of the explorer's shortest
  counterexample on the mutant's configuration (model/small.py: FOR_MUTANT);
- both engines side by side (``engines()``): the Python explorer and SPIN (properties/spin/,
  breadth first and depth first) on the same configurations, up to one of about 800 k states:
  states, transitions, depth, seconds, states/s and bytes per state, with SPIN's speed-up; then
  two sockets with three skbs each, which only SPIN completes, on v6.18 and with every candidate
  fix (v7.3+fixes) (skipped without spin and gcc).

Run: ``python benchmarks/explore.py`` (``--engines``: only the engines' comparison).
"""

from __future__ import annotations

import sys
from typing import Any

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


# The engines' comparison: name -> small() arguments, smallest first.
ENGINE_CONFIGS: dict[str, dict[str, Any]] = {
    "acceptance": {"cpus": 2, "nodes": 2, "skbs": 3, "defer_max": 4, "hotplug": True, "sysctl": 2,
                   "hotplug_flush": True},
    "3 CPUs, 2 sockets x 2 skbs": {"cpus": 3, "sockets": 2, "skbs": 2, "defer_max": 3},
    "3 CPUs, 2 sockets x 2 skbs, one NET_RX": {"cpus": 3, "sockets": 2, "skbs": 2, "defer_max": 3, "netrx_raises": 1},
}  # fmt: skip
SPIN_ONLY: dict[str, dict[str, Any]] = {
    "2 CPUs, 2 sockets x 3 skbs": {"cpus": 2, "sockets": 2, "skbs": 3, "defer_max": 4},
    # the kernel with every finding's fix, at scale
    "2 CPUs, 2 sockets x 3 skbs, v7.3+fixes": {
        "cpus": 2,
        "sockets": 2,
        "skbs": 3,
        "defer_max": 4,
        "kernel": "v7.3+fixes",
    },
}


def engines() -> None:
    """Both engines on the same configurations: the figures of issue 14's acceptance."""
    from properties.spin.engine import available, search

    why = available()
    if why is not None:
        print(f"engines: SPIN unavailable ({why}); skipped")
        return
    head = f"{'configuration':42} {'engine':12} {'states':>10} {'transitions':>12} {'depth':>5} {'seconds':>8} "
    print(head + f"{'states/s':>10} {'bytes/state':>11} {'speed-up':>8}")

    def row(name: str, engine: str, states: int, edges: int, depth: int, sec: float, mem: int, base: float) -> None:
        # pan reports hundredths of a second: too short a search has no rate
        rate = states / sec if sec > 0 else 0.0
        up = f"{rate / base:7.0f}x" if base and rate else ""
        shown = f"{rate:>10,.0f}" if rate else f"{'-':>10}"
        print(f"{name:42} {engine:12} {states:>10,} {edges:>12,} {depth:>5} {sec:>8.2f} {shown} "
              f"{mem / max(states, 1):>11,.0f} {up:>8}")  # fmt: skip

    for name, kwargs in ENGINE_CONFIGS.items():
        initial = small(**kwargs)
        py = explore(initial, max_states=5_000_000, max_seconds=3600)
        row(name, "python", py.distinct_states, py.transitions, py.depth, py.seconds, py.peak_memory_bytes, 0)
        for bfs in (True, False):
            sp = search(initial, bfs=bfs)
            mode = "spin BFS" if bfs else "spin DFS"
            row(name, mode, sp.distinct_states, sp.edges, sp.depth, sp.seconds, sp.memory_bytes, py.states_per_second)
    for name, kwargs in SPIN_ONLY.items():
        for bfs in (True, False):
            sp = search(small(**kwargs), bfs=bfs)
            row(name, "spin BFS" if bfs else "spin DFS", sp.distinct_states, sp.edges, sp.depth, sp.seconds,
                sp.memory_bytes, 0)  # fmt: skip
    print("(bytes/state: peak RSS for python, pan's total memory for SPIN; speed-up: states/s over python's)")


def main() -> None:
    if "--engines" in sys.argv[1:]:
        engines()
        return
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
    print()
    engines()


if __name__ == "__main__":
    main()
