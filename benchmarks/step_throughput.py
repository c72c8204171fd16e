"""Print the spec's ``step`` throughput on the attack scenario (4 sockets x 40 unread skbs built
on CPU 0, closed on CPU 1), for each kernel. A figure to watch, never an assertion.

- step/s: the recorded actions applied one after the other, keeping only the current state (what
  a state machine driver does);
- replay/s: the same, keeping every state (what trace replay and metrics do; the live states make
  the garbage collector work harder);
- run/s: the fair scheduler, which also computes ``enabled`` before every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from model.scenarios import attack
from model.scheduler import replay, run
from spec import Action, State, step


def best_seconds(fn: Callable[[], object], reps: int = 15) -> float:
    """The fastest of ``reps`` runs: this machine's other load only ever slows a run down."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    print(f"{'kernel':8} {'steps':>6} {'step/s':>10} {'replay/s':>10} {'run/s':>10}   (best of 15 runs)")
    for kname in ("v6.17", "v6.18", "v6.19"):
        sc = attack(kernel_name=kname)
        result = run(sc.state, triggers=sc.triggers, hold=sc.hold)

        def chain(actions: tuple[Action, ...] = result.actions, start: State = sc.state) -> None:
            state = start
            for action in actions:
                state = step(state, action)

        t_step = best_seconds(chain)
        t_replay = best_seconds(partial(replay, sc.state, result.actions))
        t_run = best_seconds(partial(run, sc.state, triggers=sc.triggers, hold=sc.hold), reps=5)
        n = len(result.actions)
        print(f"{kname:8} {n:>6} {n / t_step:>10,.0f} {n / t_replay:>10,.0f} {n / t_run:>10,.0f}")


if __name__ == "__main__":
    main()
