"""Exhaustive breadth-first exploration of the spec's transition system from one initial state.

``explore(initial)`` visits every state reachable through ``spec.enabled``/``spec.step`` (the one
transition system; nothing here re-implements a rule), environment actions included: migrations,
unrelated NET_RX, hotplug and sysctl writes are bounded by the ``Env`` budgets carried in the
state, so the space is finite. It checks

- every state invariant in every distinct state (when it is first reached),
- every transition invariant on every edge (also edges into states already seen),
- the quiescence (liveness) invariants in every quiescent state: no action but the
  environment's is enabled (``properties.checker.is_quiescent``, evaluated on the enabled list
  the search computes anyway),

all through properties.invariants. A violation that a known finding's signature explains
(properties/findings.py, asked about the shortest path to it) is recorded, with that path, the
first time each finding shows, and the search goes on; the first violation no signature
explains stops it.

Shortest counterexample. States are stored in a dict, state -> (parent, action), so a path is
rebuilt from parent pointers rather than stored. The search goes level by level; a violation on
an edge out of level d (length d + 1) is kept while the rest of level d is scanned for quiescence
violations (length d), so the counterexample returned is a shortest one; among equally short
ones, the first in the spec's fixed action order. It is returned with its initial state, so that
``properties.checker.check_run(initial, actions)`` replays it to the same verdict.

No symmetry reduction. Interchangeable CPUs or sockets would let one canonical representative
stand for each orbit, but here nothing is interchangeable in general: a socket's workload names
the CPUs that build its packets and run its system calls, each CPU belongs to one node and the
defer slots are indexed by node, skbs are numbered in allocation order (a permutation of sockets
would have to renumber the skbs of interleaved arrivals consistently through queues, slots,
batches, task contexts and ghost records), and the configurations of model/small.py give every
CPU and socket a distinct role. A reduction that is sound only for a symmetric workload, and
whose canonicalization costs more per state than ``step`` itself, was not worth its risk: the
explorer therefore explores the full space, and its counts are the spec's own.

Budgets. ``max_states`` (distinct states), ``max_depth`` (BFS levels), ``max_memory_bytes``
(the process's peak resident set size) and ``max_seconds`` stop the search with
``complete=False``, ``budget_exhausted=True`` and a one-line ``reason`` instead of exhausting
memory or time; the clock and the memory are looked at every ``_CLOCK_EVERY`` expanded states,
so a budget is overshot by at most that much work. A violation stops the search too
(``complete=False``, the reason names the invariant). Peak memory is the process's
peak resident set size (``ru_maxrss``), which includes whatever the process held before.
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable

import attrs

from properties import invariants
from properties.checker import Judge
from spec import Action, State, successors

DEFAULT_MAX_STATES = 1_000_000  # about 1.2 KiB per state on the small configurations: ~1.2 GiB
DEFAULT_MAX_SECONDS = 600.0
_CLOCK_EVERY = 64  # states expanded between two looks at the clock and the memory (well under 0.1 s)


@attrs.frozen
class Counterexample:
    """A shortest run from ``initial`` that violates ``invariant``: after ``actions`` (a
    transition or state invariant on the last step), or in the quiescent state they reach."""

    initial: State
    actions: tuple[Action, ...]
    invariant: str
    message: str
    quiescent: bool = False

    @property
    def step(self) -> int:
        """The 1-based step after which the violation is seen (as properties.checker.Verdict)."""
        return len(self.actions)


@attrs.frozen
class ExploreResult:
    """What a search found and what it cost."""

    distinct_states: int
    transitions: int  # edges explored (every enabled action of every expanded state)
    depth: int  # the deepest BFS level reached (the longest shortest path, when complete)
    seconds: float
    peak_memory_bytes: int
    complete: bool
    reason: str  # why the search stopped early; "" when complete
    violation: Counterexample | None = None
    quiescent_states: int = 0
    # The known findings met, each with the shortest run that shows it (in the order met).
    findings: tuple[tuple[str, Counterexample], ...] = ()
    budget_exhausted: bool = False  # a budget (states, depth, memory, time) ended the search

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        status = "complete" if self.complete else f"incomplete: {self.reason}"
        if self.findings:
            status += "; known findings met: " + ", ".join(fid for fid, _ in self.findings)
        return (
            f"{self.distinct_states:,} states, {self.transitions:,} transitions, depth {self.depth}, "
            f"{self.quiescent_states:,} quiescent, {self.seconds:.2f} s ({self.states_per_second:,.0f} states/s), "
            f"peak RSS {self.peak_memory_bytes / 2**20:.0f} MiB; {status}"
        )


def peak_rss_bytes() -> int:
    """The process's peak resident set size (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


# Parent pointers: the state a state was first reached from, and the action; the root has None.
_Parents = dict[State, tuple[State, Action] | None]


def _path(parents: _Parents, state: State) -> tuple[Action, ...]:
    actions: list[Action] = []
    link = parents[state]
    while link is not None:
        state, action = link
        actions.append(action)
        link = parents[state]
    return tuple(reversed(actions))


def explore(
    initial: State,
    *,
    only: frozenset[str] | None = None,
    max_states: int = DEFAULT_MAX_STATES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_depth: int | None = None,
    max_memory_bytes: int | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> ExploreResult:
    """Breadth-first search of every state reachable from ``initial``, checking every invariant
    (or only those in ``only``: the mutant tests' isolation); stops at the first (shortest)
    violation no known finding explains, or when a budget runs out.
    ``progress(depth, states, transitions)``, if given, is called at the end of every level."""
    if only is not None and only - invariants.REGISTRY.keys():
        raise ValueError(f"unknown invariants: {sorted(only - invariants.REGISTRY.keys())}")
    # The collector would walk the ever-growing visited set again and again, finding no cycles:
    # the search's records are trees (about a quarter of the run time on large searches).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _explore(initial, only, max_states, max_seconds, max_depth, max_memory_bytes, progress)
    finally:
        if collecting:
            gc.enable()


def _explore(
    initial: State,
    only: frozenset[str] | None,
    max_states: int,
    max_seconds: float,
    max_depth: int | None,
    max_memory_bytes: int | None,
    progress: Callable[[int, int, int], None] | None,
) -> ExploreResult:
    # Each kind's invariants, selected once rather than at every state and edge.
    state_invs = invariants.selected("state", only)
    transition_invs = invariants.selected("transition", only)
    quiescent_invs = invariants.selected("quiescent", only)

    def state_violations(s: State) -> list[invariants.Found]:
        return [(inv.name, msg) for inv in state_invs if (msg := inv.check(s)) is not None]

    def transition_violations(pre: State, a: Action, post: State) -> list[invariants.Found]:
        return [(inv.name, msg) for inv in transition_invs if (msg := inv.check(pre, a, post)) is not None]

    def quiescent_violations(s: State) -> list[invariants.Found]:
        return [(inv.name, msg) for inv in quiescent_invs if (msg := inv.check(s)) is not None]

    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    parents: _Parents = {initial: None}
    setdefault = parents.setdefault
    transitions = 0
    quiescent_states = 0
    depth = 0
    found: Counterexample | None = None
    met: dict[str, Counterexample] = {}
    reason = ""

    def result(complete: bool, budget: bool = False) -> ExploreResult:
        return ExploreResult(
            distinct_states=len(parents),
            transitions=transitions,
            depth=depth,
            seconds=time.perf_counter() - t0,
            peak_memory_bytes=peak_rss_bytes(),
            complete=complete,
            reason=reason,
            violation=found,
            quiescent_states=quiescent_states,
            findings=tuple(met.items()),
            budget_exhausted=budget,
        )

    def unexplained(bad: list[invariants.Found], actions: tuple[Action, ...], quiescent: bool) -> Counterexample | None:
        """The first violation no known finding explains; known ones are recorded as met."""
        if not bad:
            return None
        judge = Judge(initial, actions)
        failure = judge.judge(bad, len(actions), quiescent)
        for fid, v in judge.explained.items():
            if fid not in met:
                met[fid] = Counterexample(initial, actions, v.invariant, v.message, quiescent)
        if failure is None:
            return None
        return Counterexample(initial, actions, failure.invariant, failure.message, quiescent)

    found = unexplained(state_violations(initial), (), False)
    if found is not None:
        reason = f"{found.invariant} is violated in the initial state"
        return result(False)

    level = [initial]
    expanded = 0
    while level:
        nxt_level: list[State] = []
        edge_violation: Counterexample | None = None  # length depth + 1, kept while level d is scanned
        for state in level:
            expanded += 1
            if expanded % _CLOCK_EVERY == 0:
                if time.perf_counter() > deadline:
                    reason = (
                        f"time budget of {max_seconds:g} s spent at depth {depth} with {len(parents):,} states "
                        f"(raise max_seconds, or shrink the configuration)"
                    )
                    return result(False, budget=True)
                if max_memory_bytes is not None and peak_rss_bytes() > max_memory_bytes:
                    reason = (
                        f"memory budget of {max_memory_bytes / 2**20:,.0f} MiB reached at depth {depth} with "
                        f"{len(parents):,} states (raise max_memory, or shrink the configuration)"
                    )
                    return result(False, budget=True)
            succ = successors(state)
            # is_quiescent(state), without computing enabled() a second time.
            if not any(not a.environment for a, _ in succ):
                quiescent_states += 1
                bad = quiescent_violations(state)
                if bad:
                    found = unexplained(bad, _path(parents, state), True)
                    if found is not None:
                        reason = f"{found.invariant} is violated in a quiescent state at depth {depth}"
                        return result(False)
            if edge_violation is not None:
                continue  # only a quiescence violation (one step shorter) could still come first
            for action, post in succ:
                transitions += 1
                bad = transition_violations(state, action, post)
                # One hash of ``post`` (the states do not cache theirs): look up and insert at once.
                known = len(parents)
                setdefault(post, (state, action))
                if len(parents) > known:
                    if known >= max_states:
                        del parents[post]
                        reason = (
                            f"state budget of {max_states:,} distinct states reached at depth {depth} "
                            f"(raise max_states, or shrink the configuration)"
                        )
                        return result(False, budget=True)
                    nxt_level.append(post)
                    bad += state_violations(post)
                if bad:
                    edge_violation = unexplained(bad, (*_path(parents, state), action), False)
                    if edge_violation is not None:
                        break
        if edge_violation is not None:
            found = edge_violation
            depth += 1
            reason = f"{found.invariant} is violated at step {found.step}"
            return result(False)
        if progress is not None:
            progress(depth, len(parents), transitions)
        if nxt_level:
            if max_depth is not None and depth >= max_depth:
                reason = (
                    f"depth budget of {max_depth:,} levels reached with {len(parents):,} states "
                    f"(raise max_depth, or shrink the configuration)"
                )
                return result(False, budget=True)
            depth += 1
        level = nxt_level
    return result(True)
