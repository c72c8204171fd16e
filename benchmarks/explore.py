"""Print what the exhaustive explorer costs and finds. Figures to watch, never an assertion.

- both engines side by side (``ENGINES``): the Python explorer and SPIN on the Promela model
  (properties/spin/), on the same configurations in one run, with the same invariants checked
  (the findings' skipped): distinct states, transitions, depth, search seconds and CPU seconds,
  states per second (wall and CPU), bytes per state, and SPIN's speed-up per CPU second. Each
  Python search runs in a child process, so that its peak RSS (``bytes/state``: peak RSS over the
  states) is its own; SPIN's bytes/state is its memory for stored states over the states; its
  seconds are the verifier's search, the compile time is printed apart. Configurations too large
  for the Python explorer run with SPIN only. Without spin and gcc, only the Python column;
- the acceptance configuration of model/small.py (2 CPUs on 2 nodes, one socket with 3 unread
  skbs built on CPU 0 and closed on CPU 1, skb_defer_max 4, hotplug with the hotplug flush, one
  write of skb_defer_max): first the shortest violation of the unmodified spec, then a complete
  search with the reachable findings' invariants skipped: distinct states, transitions, depth,
  states/s, peak memory;
- a larger configuration for scale (3 CPUs on 2 nodes, two sockets x 2 skbs closed on CPUs 1
  and 2, skb_defer_max 3);
- per mutant and invariant of properties/mutants.py: the length of the explorer's shortest
  counterexample on the mutant's configuration (model/small.py: FOR_MUTANT).

Run: ``python benchmarks/explore.py`` (``--engines-only`` stops after the side-by-side table).
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from model.small import SMALL, for_mutant, small
from properties import profiles
from properties.explorer import ExploreResult, explore
from properties.invariants import REGISTRY
from properties.machines import InvariantViolation, findings_reachable
from properties.mutants import MUTANTS, hunt
from properties.spin import driver
from properties.workloads import Focus
from spec import State

# The findings the hotplug configurations can reach (F2, F3, F5/F6), pinned by their own traces.
SKIP = findings_reachable(Focus(hotplug=True))


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


# (label, builder, run the Python explorer too)
ENGINES: list[tuple[str, Callable[[], State], bool]] = [
    ("acceptance (2 CPUs/2 nodes, 3 skbs, hotplug, sysctl)", SMALL["acceptance"].build, True),
    (
        "3 CPUs/2 nodes, 2 sockets x 2 skbs, hotplug",
        lambda: small(cpus=3, nodes=2, sockets=2, skbs=2, defer_max=3, hotplug=True),
        True,
    ),
    ("2 CPUs/2 nodes, 2 sockets x 3 skbs", lambda: small(cpus=2, nodes=2, sockets=2, skbs=3, defer_max=4), True),
    (
        "2 CPUs/2 nodes, 2 sockets x 3 skbs, 1 NET_RX",
        lambda: small(cpus=2, nodes=2, sockets=2, skbs=3, defer_max=4, netrx_raises=1),
        False,
    ),
]


def _python_child(build: Callable[[], State], out: Any) -> None:
    state = build()
    cpu0 = time.process_time()
    r = explore(state, skip=SKIP, max_seconds=3600, max_states=20_000_000)
    cpu = time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.put((r.distinct_states, r.transitions, r.depth, r.seconds, cpu, rss, r.complete))


def python_figures(build: Callable[[], State]) -> tuple[int, int, int, float, float, int, bool]:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_python_child, args=(build, queue))
    child.start()
    got: tuple[int, int, int, float, float, int, bool] = queue.get()
    child.join()
    return got


def row(
    label: str,
    engine: str,
    states: int,
    transitions: int,
    depth: int,
    secs: float,
    cpu: float,
    per_state: float,
    extra: str = "",
) -> None:
    print(
        f"{label:52} {engine:7} {states:>11,} {transitions:>11,} {depth:>5} {secs:>8.1f} {cpu:>8.1f} "
        f"{states / max(secs, 1e-9):>10,.0f} {states / max(cpu, 1e-9):>10,.0f} {per_state:>9,.0f} {extra}"
    )


def engines() -> None:
    print(f"Both engines, the findings' invariants skipped ({', '.join(sorted(SKIP))}); every other invariant checked.")
    print(
        f"{'configuration':52} {'engine':7} {'states':>11} {'transitions':>11} {'depth':>5} {'seconds':>8} "
        f"{'CPU s':>8} {'states/s':>10} {'st/CPU-s':>10} {'B/state':>9}"
    )
    missing = driver.missing()
    for label, build, with_python in ENGINES:
        py_rate = None
        if with_python:
            states, transitions, depth, secs, cpu, rss, complete = python_figures(build)
            row(
                label,
                "python",
                states,
                transitions,
                depth,
                secs,
                cpu,
                rss / max(1, states),
                "" if complete else "(incomplete)",
            )
            py_rate = states / max(cpu, 1e-9)
        if missing is not None:
            print(f"{label:52} spin    skipped: {missing}")
            continue
        t0 = time.perf_counter()
        r = driver.explore_spin(build(), skip=SKIP, max_states=20_000_000, max_seconds=3600)
        compile_s = time.perf_counter() - t0 - r.search_seconds
        speed = f"x{r.distinct_states / max(r.search_cpu_seconds, 1e-9) / py_rate:,.0f} per CPU-s" if py_rate else ""
        row(
            label,
            "spin",
            r.distinct_states,
            r.transitions,
            r.depth,
            r.search_seconds,
            r.search_cpu_seconds,
            r.bytes_per_state,
            f"{speed} (compile {compile_s:.0f} s)" + ("" if r.complete else f" {r.reason}"),
        )
    print(
        "(seconds: the search; st/CPU-s: states per CPU second; python B/state: peak RSS / states; "
        "spin B/state: SPIN's memory for stored states / states)"
    )
    print()


def main() -> None:
    engines()
    if "--engines-only" in sys.argv[1:]:
        return
    acceptance = SMALL["acceptance"].build()
    figures("acceptance, every invariant checked", explore(acceptance))
    figures(f"acceptance, skipping {sorted(SKIP)}", explore(acceptance, skip=SKIP))
    scale = small(cpus=3, nodes=2, sockets=2, skbs=2, defer_max=3)
    figures("3 CPUs on 2 nodes, 2 sockets x 2 skbs, skb_defer_max 3", explore(scale, skip=SKIP))
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
                result = explore(config.build(), skip=frozenset(REGISTRY) - {inv}, max_seconds=60)
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
