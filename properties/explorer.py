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

all through properties.invariants, respecting ``skip``.

Shortest counterexample. States are stored in a dict, state -> (parent, action), so a path is
rebuilt from parent pointers rather than stored. The search goes level by level; a violation on
an edge out of level d (length d + 1) is kept while the rest of level d is scanned for quiescence
violations (length d), so the counterexample returned is a shortest one; among equally short
ones, the first in the spec's fixed action order. It is returned with its initial state, so that
``properties.checker.check_run(initial, actions, skip)`` replays it to the same verdict.

No symmetry reduction. Interchangeable CPUs or sockets would let one canonical representative
stand for each orbit, but here nothing is interchangeable in general: a socket's workload names
the CPUs that build its packets and run its system calls, each CPU belongs to one node and the
defer slots are indexed by node, skbs are numbered in allocation order (a permutation of sockets
would have to renumber the skbs of interleaved arrivals consistently through queues, slots,
batches, task contexts and ghost records), and the configurations of model/small.py give every
CPU and socket a distinct role. A reduction that is sound only for a symmetric workload, and
whose canonicalization costs more per state than ``step`` itself, was not worth its risk: the
explorer therefore explores the full space, and its counts are the spec's own.

Budgets. ``max_states`` (distinct states) and ``max_seconds`` stop the search with
``complete=False`` and a one-line ``reason`` instead of exhausting memory or time; a violation
stops it too (``complete=False``, the reason names the invariant). Peak memory is the process's
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
from spec import Action, State
from spec.core import Draft
from spec.system import RULES, candidates

DEFAULT_MAX_STATES = 1_000_000  # about 2.2 KiB of peak RSS per state (states cache their hashes): ~2.2 GiB
DEFAULT_MAX_SECONDS = 600.0
_CLOCK_EVERY = 256  # states expanded between two looks at the clock


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

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        status = "complete" if self.complete else f"incomplete: {self.reason}"
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


# A guard (None: enabled) and an effect, the spec's own functions for one action type.
_Rule = tuple[Callable[[State, Action], str | None], Callable[[Draft, Action], Draft]]


def _rules() -> dict[type[Action], _Rule]:
    """The spec's guard and effect of every action type, looked up once per search (spec.system
    looks them up by name at every step, so that a mutant applied before the search is seen)."""
    return {cls: (getattr(mod, "guard_" + name), getattr(mod, "apply_" + name)) for cls, (mod, name) in RULES.items()}


def _checks(kind: str, skip: frozenset[str]) -> list[tuple[str, Callable[..., str | None]]]:
    return [(inv.name, inv.check) for inv in invariants.by_kind(kind) if inv.name not in skip]


def _first(checks: list[tuple[str, Callable[..., str | None]]], *args: object) -> tuple[str, str] | None:
    """The first violated check, as properties.invariants.check_* return it."""
    for name, check in checks:
        msg = check(*args)
        if msg is not None:
            return name, msg
    return None


def explore(
    initial: State,
    *,
    skip: frozenset[str] = frozenset(),
    max_states: int = DEFAULT_MAX_STATES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    progress: Callable[[int, int, int], None] | None = None,
) -> ExploreResult:
    """Breadth-first search of every state reachable from ``initial``, checking every invariant
    not in ``skip``; stops at the first (shortest) violation or when a budget runs out.
    ``progress(depth, states, transitions)``, if given, is called at the end of every level.

    The garbage collector is off during the search: every state stays alive in the visited set,
    so its collections would only walk the whole set again and again."""
    unknown = skip - invariants.REGISTRY.keys()
    if unknown:
        raise ValueError(f"skip names unknown invariants: {sorted(unknown)}")
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _search(initial, skip, max_states, max_seconds, progress)
    finally:
        if collecting:
            gc.enable()


def _search(
    initial: State,
    skip: frozenset[str],
    max_states: int,
    max_seconds: float,
    progress: Callable[[int, int, int], None] | None,
) -> ExploreResult:
    state_checks = _checks("state", skip)
    transition_checks = _checks("transition", skip)
    quiescent_checks = _checks("quiescent", skip)
    rules = _rules()
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    parents: _Parents = {initial: None}
    setdefault = parents.setdefault
    transitions = 0
    quiescent_states = 0
    depth = 0
    found: Counterexample | None = None
    reason = ""

    def result(complete: bool) -> ExploreResult:
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
        )

    bad = _first(state_checks, initial)
    if bad is not None:
        found = Counterexample(initial, (), *bad)
        reason = f"{bad[0]} is violated in the initial state"
        return result(False)

    level = [initial]
    expanded = 0
    while level:
        nxt_level: list[State] = []
        edge_violation: Counterexample | None = None  # length depth + 1, kept while level d is scanned
        for state in level:
            expanded += 1
            if expanded % _CLOCK_EVERY == 0 and time.perf_counter() > deadline:
                reason = (
                    f"time budget of {max_seconds:g} s spent at depth {depth} with {len(parents):,} states "
                    f"(raise max_seconds, or shrink the configuration)"
                )
                return result(False)
            # spec.enabled() and spec.step() with each guard run once: candidates() lists the
            # actions by actor (always in range), the guard filters them, the effect applies below.
            acts = [a for a in candidates(state) if rules[type(a)][0](state, a) is None]
            # is_quiescent(state), on the enabled list.
            if not any(not a.environment for a in acts):
                quiescent_states += 1
                bad = _first(quiescent_checks, state)
                if bad is not None:
                    found = Counterexample(initial, _path(parents, state), *bad, quiescent=True)
                    reason = f"{bad[0]} is violated in a quiescent state at depth {depth}"
                    return result(False)
            if edge_violation is not None:
                continue  # only a quiescence violation (one step shorter) could still come first
            for action in acts:
                post = rules[type(action)][1](Draft(state), action).freeze(state)
                transitions += 1
                bad = None
                for name, check in transition_checks:  # _first(), inlined: it runs on every edge
                    msg = check(state, action, post)
                    if msg is not None:
                        bad = (name, msg)
                        break
                if bad is None:
                    # One look-up of ``post``: find and insert at once.
                    known = len(parents)
                    setdefault(post, (state, action))
                    if len(parents) > known:
                        if known >= max_states:
                            del parents[post]
                            reason = (
                                f"state budget of {max_states:,} distinct states reached at depth {depth} "
                                f"(raise max_states, or shrink the configuration)"
                            )
                            return result(False)
                        nxt_level.append(post)
                        bad = _first(state_checks, post)
                if bad is not None:
                    actions = (*_path(parents, state), action)
                    edge_violation = Counterexample(initial, actions, *bad)
                    break
        if edge_violation is not None:
            found = edge_violation
            depth += 1
            reason = f"{found.invariant} is violated at step {found.step}"
            return result(False)
        if progress is not None:
            progress(depth, len(parents), transitions)
        if nxt_level:
            depth += 1
        level = nxt_level
    return result(True)
