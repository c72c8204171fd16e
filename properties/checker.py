"""Check a whole run (an initial state and its actions) against every invariant: the one
checker that trace replay, findings, the CLI and the explorer share with the state machines.

Every invariant is checked after every step. A violation that a known finding's signature
explains (properties/findings.py) is noted and the run goes on; the first one that none
explains is the run's failure."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from properties import findings, invariants
from properties.runs import Run, Violation
from spec import Action, NotEnabled, SpecError, State, enabled, step


class NotEnabledAt(SpecError):
    """A run applies an action where it is not enabled; ``step`` is its 1-based position."""

    def __init__(self, step_no: int, err: NotEnabled) -> None:
        super().__init__(f"step {step_no}: {err}")
        self.step = step_no


@attrs.frozen
class Verdict:
    """The first violation of a run that no known finding explains: invariant name, message and
    the 1-based step after which it was seen (``len(actions)`` for a quiescence check), or
    ``holds`` with none. ``findings`` are the known findings the run showed, in order."""

    invariant: str | None = None
    message: str = ""
    step: int = 0
    quiescent: bool = False
    findings: tuple[str, ...] = ()

    @property
    def holds(self) -> bool:
        return self.invariant is None


def is_quiescent(state: State) -> bool:
    """No action other than the environment's is enabled."""
    return not any(not a.environment for a in enabled(state))


class Judge:
    """Classifies the violations of one run as it grows: each is either a known finding (its id is
    kept, once) or the failure."""

    def __init__(self, initial: State, actions: Sequence[Action], states: Sequence[State] | None = None) -> None:
        self.initial = initial
        self.actions = actions
        self.states = states  # the driver's own states, if it keeps them (else recomputed)
        self.explained: dict[str, Violation] = {}  # per known finding met, the first violation it explained
        self.failure: Violation | None = None

    def judge(self, found: list[invariants.Found], step_no: int, quiescent: bool = False) -> Violation | None:
        """Classify violations seen after ``step_no``; returns the first unexplained one."""
        for name, message in found:
            v = Violation(name, message, step_no, quiescent)
            fid = findings.recognise(self.run(step_no), v)
            if fid is None:
                self.failure = self.failure or v
                return v
            self.explained.setdefault(fid, v)
        return None

    def run(self, step_no: int) -> Run:
        """The run up to step ``step_no``."""
        known = self.states is not None and len(self.states) > step_no
        states = self.states[: step_no + 1] if known and self.states is not None else None
        return Run(self.initial, self.actions[:step_no], states)

    @property
    def seen(self) -> list[str]:
        """The known findings met, in order."""
        return list(self.explained)

    def verdict(self, steps: int, quiescent: bool) -> Verdict:
        f = self.failure
        if f is None:
            return Verdict(step=steps, quiescent=quiescent, findings=tuple(self.seen))
        return Verdict(f.invariant, f.message, f.step, f.quiescent, tuple(self.seen))


def check_run(initial: State, actions: Sequence[Action], only: frozenset[str] | None = None) -> Verdict:
    """Replay ``actions`` from ``initial`` with the spec's ``step`` and check every invariant
    after every step; at the end, if the run is quiescent, check liveness too. Stops at the
    first violation no known finding explains. ``only`` restricts the invariants checked: the
    mutant tests use it to show one invariant catching a mutant on its own; drivers never do.
    Raises NotEnabledAt if an action is not enabled
    where the run applies it."""
    states = [initial]
    judge = Judge(initial, actions, states)
    if judge.judge(invariants.state_violations(initial, only), 0):
        return judge.verdict(0, False)
    for i, action in enumerate(actions, 1):
        try:
            nxt = step(states[-1], action)
        except NotEnabled as err:
            raise NotEnabledAt(i, err) from None
        pre = states[-1]
        states.append(nxt)
        found = invariants.transition_violations(pre, action, nxt, only) + invariants.state_violations(nxt, only)
        if found and judge.judge(found, i):
            return judge.verdict(i, False)
    quiescent = is_quiescent(states[-1])
    if quiescent:
        judge.judge(invariants.quiescent_violations(states[-1], only), len(actions), quiescent=True)
    return judge.verdict(len(actions), quiescent)
