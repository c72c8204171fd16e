"""A run as the signatures of known findings see it: the initial state, the actions, every state
in between, and the violation to explain.

A run is built by whichever driver found the violation (a state machine, the explorer, a trace
replay); the states are recomputed with the spec's ``step`` when the driver did not keep them, so
every driver asks the same predicate about the same run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property

import attrs

from spec import Action, State, step


@attrs.frozen
class Violation:
    """An invariant that failed: its name, the message, and where: after the 1-based ``step``
    (0: the initial state), or at quiescence after the last step."""

    invariant: str
    message: str
    step: int
    quiescent: bool = False


class Run:
    """``states[i]`` is the state after ``actions[:i]``; ``states[0]`` is the initial one."""

    def __init__(self, initial: State, actions: Sequence[Action], states: Sequence[State] | None = None) -> None:
        self.initial = initial
        self.actions: tuple[Action, ...] = tuple(actions)
        if states is not None:
            self.__dict__["states"] = tuple(states)

    @cached_property
    def states(self) -> tuple[State, ...]:
        out = [self.initial]
        for a in self.actions:
            out.append(step(out[-1], a))
        return tuple(out)

    @property
    def final(self) -> State:
        return self.states[-1]

    def transitions(self, start: int = 1, stop: int | None = None) -> Iterator[tuple[int, State, Action, State]]:
        """(i, pre, action, post) for the 1-based steps ``start`` .. ``stop`` (default: the last)."""
        last = len(self.actions) if stop is None else stop
        for i in range(start, last + 1):
            yield i, self.states[i - 1], self.actions[i - 1], self.states[i]
