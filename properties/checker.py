"""Check a whole run (an initial state and its actions) against every invariant: the one
checker that trace replay, findings, the CLI and the explorer share with the state machines."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from properties import invariants
from spec import Action, NotEnabled, SpecError, State, enabled, step


class NotEnabledAt(SpecError):
    """A run applies an action where it is not enabled; ``step`` is its 1-based position."""

    def __init__(self, step_no: int, err: NotEnabled) -> None:
        super().__init__(f"step {step_no}: {err}")
        self.step = step_no


@attrs.frozen
class Verdict:
    """The first violation of a run: invariant name, message and the 1-based step after which it
    was seen (``len(actions)`` for a quiescence check), or ``holds`` with no violation."""

    invariant: str | None = None
    message: str = ""
    step: int = 0
    quiescent: bool = False

    @property
    def holds(self) -> bool:
        return self.invariant is None


def is_quiescent(state: State) -> bool:
    """No action other than the environment's is enabled."""
    return not any(not a.environment for a in enabled(state))


def check_run(initial: State, actions: Sequence[Action], skip: frozenset[str] = frozenset()) -> Verdict:
    """Replay ``actions`` from ``initial`` with the spec's ``step`` and check every invariant
    after every step; at the end, if the run is quiescent, check liveness too.
    Raises NotEnabledAt if an action is not enabled where the run applies it."""
    state = initial
    found = invariants.check_state(state, skip)
    if found is not None:
        return Verdict(*found, step=0)
    for i, action in enumerate(actions, 1):
        try:
            nxt = step(state, action)
        except NotEnabled as err:
            raise NotEnabledAt(i, err) from None
        found = invariants.check_transition(state, action, nxt, skip) or invariants.check_state(nxt, skip)
        if found is not None:
            return Verdict(*found, step=i)
        state = nxt
    quiescent = is_quiescent(state)
    if quiescent:
        found = invariants.check_quiescent(state, skip)
        if found is not None:
            return Verdict(*found, step=len(actions), quiescent=True)
    return Verdict(step=len(actions), quiescent=quiescent)
