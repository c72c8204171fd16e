"""Hypothesis state machines: thin drivers over the spec's ``enabled``/``step``.

Each machine draws an initial state (properties/workloads.py), then at every step one enabled
action, and checks every state and transition invariant after it; a ``settle`` rule runs the
fair scheduler to quiescence and checks liveness there. A violation raises InvariantViolation
with the invariant's name and doc, the failing step, the actions so far and the state.

Every machine checks every invariant. A violation that a known finding's signature explains
(properties/findings.py) is recorded as that finding (a ``known Fn`` event) and the run goes on;
any other violation fails the example.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import ClassVar

from hypothesis import event, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from model.scheduler import run
from properties import coverage, invariants
from properties.checker import Judge, check_run
from properties.report import render_actions, render_state
from properties.workloads import Focus, initial_states
from spec import (
    Action,
    CpuOffline,
    CpuOnline,
    DeferKick,
    DeferPush,
    IpiDeliver,
    SetDeferMax,
    SoftirqStart,
    State,
    enabled,
    step,
)

# Swarm testing: each example may make a few kinds of step "slow" (chosen only when nothing else
# is enabled), which reaches the long-latency interleavings a uniform choice almost never does:
# an IPI that arrives late, a busy CPU whose NET_RX waits, a producer preempted before its push or
# its kick, a CPU that stays offline.
# Under Focus.aimed, these environment steps come only through the windows they aim at, so that
# the budget for them is not spent before a window opens.
AIMED: tuple[type[Action], ...] = (CpuOffline, SetDeferMax)
SLOW_KINDS: tuple[type[Action], ...] = (IpiDeliver, SoftirqStart, DeferPush, DeferKick, CpuOnline, CpuOffline)


class FindingShown(AssertionError):
    """Raised, instead of noting it, when a machine run for one known finding shows it (so that
    Hypothesis shrinks the run; benchmarks/findings.py)."""

    def __init__(self, finding: str, actions: list[Action]) -> None:
        super().__init__(f"finding {finding} shown in {len(actions)} steps")
        self.finding = finding
        self.actions = list(actions)


class InvariantViolation(AssertionError):
    """An invariant failed. ``invariant`` is its name; ``actions`` the run up to the failure."""

    def __init__(self, name: str, message: str, actions: list[Action], initial: State, state: State) -> None:
        inv = invariants.REGISTRY[name]
        super().__init__(
            f"invariant {name} ({inv.concern}) violated at step {len(actions)}: {message}\n"
            f"  promise: {inv.doc.splitlines()[0]}\n"
            f"actions:\n{render_actions(actions)}\nstate after the last action:\n{render_state(state)}"
        )
        self.invariant = name
        self.message = message
        self.actions = list(actions)
        self.initial = initial
        self.state = state


# Every event seen by any machine in this process, per machine class name (for the vacuity check),
# the examples and steps run, and a per-example callback (the CLI's progress bars).
SEEN: dict[str, Counter[str]] = {}
STATS: dict[str, Counter[str]] = {}
ON_EXAMPLE: dict[str, Callable[[], None]] = {}
# Machine class names whose examples report, per coverage event, how often they reached it as a
# Hypothesis ``target`` (a fuzzing campaign, properties/campaign.py): Hypothesis keeps the pareto
# front of these scores in the example database, so workers share covering examples, not only
# failing ones. Off elsewhere, so that the ci profile's search is unchanged.
TARGETS: set[str] = set()


class SpecMachine(RuleBasedStateMachine):
    focus: ClassVar[Focus] = Focus()
    # The invariants checked: all (None), or one for a mutant hunt (properties/mutants.hunt).
    only: ClassVar[frozenset[str] | None] = None
    # A known finding to stop at (raise FindingShown) rather than note: for measuring.
    stop_at: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.state: State | None = None
        self.initial: State | None = None
        self.actions: list[Action] = []
        self.states: list[State] = []
        self.judge: Judge | None = None
        self.failed = False
        self.slow: frozenset[type[Action]] = frozenset()
        self.seen = SEEN.setdefault(type(self).__name__, Counter())
        self.stats = STATS.setdefault(type(self).__name__, Counter())
        self.reached: Counter[str] = Counter()  # this example's events

    def _start(self, state: State, slow: frozenset[type[Action]]) -> None:
        self.state = self.initial = state
        self.states = [state]
        self.judge = Judge(state, self.actions, self.states)
        self.slow = slow
        self.stats["examples"] += 1
        callback = ON_EXAMPLE.get(type(self).__name__)
        if callback is not None:
            callback()
        self._check_state()

    def _apply(self, action: Action) -> None:
        assert self.state is not None
        pre = self.state
        post = step(pre, action)
        self.actions.append(action)
        self.states.append(post)
        self.state = post
        self.stats["steps"] += 1
        self.stats[f"action {type(action).__name__}"] += 1
        for name in coverage.observe(pre, action, post):
            event(name)
            self.seen[name] += 1
            self.reached[name] += 1
        self._judge(invariants.transition_violations(pre, action, post, self.only))
        self._check_state()

    def _check_state(self) -> None:
        assert self.state is not None
        self._judge(invariants.state_violations(self.state, self.only))

    def _judge(self, found: list[invariants.Found], quiescent: bool = False) -> None:
        """Known findings are noted (an event, and the count ``check`` reports); anything else fails."""
        if not found:
            return
        assert self.judge is not None and self.state is not None and self.initial is not None
        known = len(self.judge.seen)
        failure = self.judge.judge(found, len(self.actions), quiescent)
        for fid in self.judge.seen[known:]:
            event(f"known {fid}")
            self.seen[f"known {fid}"] += 1
            if fid == self.stop_at:
                self.failed = True
                raise FindingShown(fid, self.actions)
        if failure is not None:
            self.failed = True
            raise InvariantViolation(failure.invariant, failure.message, self.actions, self.initial, self.state)

    @precondition(lambda self: self.state is not None and bool(enabled(self.state)))
    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        assert self.state is not None
        options = enabled(self.state)
        options = [a for a in options if type(a) not in self.slow] or options
        # The environment offers many actions (a raise, an offline, a write per CPU or value) and
        # would crowd out the kernel's own steps under a uniform choice: a quarter of the draws
        # go to it, the rest to the kernel's steps.
        kernel = [a for a in options if not a.environment]
        env = [a for a in options if a.environment and not (self.focus.aimed and type(a) in AIMED)]
        if kernel and env:
            options = env if data.draw(st.integers(0, 3), label="environment?") == 0 else kernel
        else:
            options = kernel or env or options
        # Half the time a narrow window is open, aim at it (properties/coverage.windows): a CPU
        # going offline inside a producer's check-to-push window, a push inside a flush's
        # reset-to-detach window, a sysctl write mid-epoch, an error-queue charge inside a purge.
        aims = coverage.windows(self.state)
        if aims:
            options = aims if data.draw(st.booleans(), label="aim at a window?") else options
        action = data.draw(st.sampled_from(options), label="action")
        self._apply(action)

    @precondition(lambda self: self.state is not None)
    @rule(steps=st.integers(1, 8), data=st.data())
    def settle(self, steps: int, data: st.DataObject) -> None:
        """A few steps of the fair scheduler, which leaves this example's slow kinds for last; a
        window that opens on the way may be taken instead of the fair step. At quiescence, check
        liveness there."""
        assert self.state is not None
        for _ in range(steps):
            aims = coverage.windows(self.state)
            if aims and data.draw(st.integers(0, 2), label="aim at a window?") == 0:
                self._apply(data.draw(st.sampled_from(aims), label="window"))
                continue
            fair = run(self.state, workload_first=False, slow=tuple(self.slow), limit=1).actions
            if not fair:
                self._check_quiescent()
                return
            self._apply(fair[0])

    def teardown(self) -> None:
        """Every example ends quiescent: the fair scheduler runs every task, IPI and softirq to the
        end, checking each step, then liveness. (Not after a failure: that run is over.)"""
        if self.state is None or self.failed:
            return
        for action in run(self.state, workload_first=False, slow=tuple(self.slow)).actions:
            self._apply(action)
        self._check_quiescent()
        if type(self).__name__ in TARGETS:  # a campaign's covering examples (properties/campaign.py)
            for name, count in self.reached.items():
                target(count, label=name)

    def _check_quiescent(self) -> None:
        assert self.state is not None
        self.stats["quiescent checks"] += 1
        self._judge(invariants.quiescent_violations(self.state, self.only), quiescent=True)


def machine(
    name: str, focus: Focus, only: frozenset[str] | None = None, stop_at: str | None = None
) -> type[SpecMachine]:
    """A concrete machine class drawing its initial states with ``focus`` and checking every
    invariant (or only those in ``only``, for a mutant hunt)."""

    def boot(self: SpecMachine, state: State, slow: frozenset[type[Action]]) -> None:
        self._start(state, slow)

    pinned = frozenset(k for k in SLOW_KINDS if k.__name__ in focus.slow)
    slow = st.frozensets(st.sampled_from(SLOW_KINDS), max_size=2).map(lambda drawn: drawn | pinned)
    boot_rule = initialize(state=initial_states(focus), slow=slow)(boot)
    cls = type(name, (SpecMachine,), {"focus": focus, "only": only, "stop_at": stop_at, "boot": boot_rule})
    return cls


# The close paths, accounting, decision and defer machinery, without hotplug or the error queue;
# both unread tests (the summed one can reach finding F4).
CloseMachine = machine("CloseMachine", Focus(unread_test=None))
# The same with CPU hotplug (both dev_cpu_dead() variants), error-queue skbs, every preemption
# model and kernels with and without the zero-copy test: findings F1 and F9.
HotplugMachine = machine("HotplugMachine", Focus(hotplug=True, errqueue=True, zcopy_check=None))
# The attack's shape: every skb built on CPU 0, two sockets closed on CPU 1 and CPU 2 (on the
# other node of 3cpu-2node), so that two producers and the owner's flush meet in the reset window.
RaceMachine = machine("RaceMachine", Focus(machine="3cpu-2node", rx_cpu=0, close_cpus=(1, 2), min_skbs=2, reader=True))
# The attack's shape with CPU 0 going offline only inside a producer's check-to-push window, at the
# smallest kicking maximum, under full preemption (findings F2, F3, F7).
OfflineMachine = machine(
    "OfflineMachine",
    Focus(
        machine="2cpu-1node",
        rx_cpu=0,
        close_cpus=(1,),
        hotplug=True,
        defer_max=3,
        aimed=True,
        min_skbs=2,
        preempt="full",
    ),
)
# The attack's shape (close-new, defer-v6) with two writes of skb_defer_max, only while an epoch is open, between 3 and
# 4, whose kick points differ (3 kicks at count 2, 4 at count 3), and the defer IPI always late,
# so that an epoch lasts across the close: finding F8.
SysctlMachine = machine(
    "SysctlMachine",
    Focus(close_path="close-new", defer="defer-v6", machine="2cpu-1node", rx_cpu=0, close_cpus=(1,), defer_max=3,
          sysctl_values=(3, 4), sysctl_writes=2, aimed=True, min_skbs=3, slow=("IpiDeliver",)),
)  # fmt: skip
# The attack's shape (close-new, defer-v6) booted with skb_defer_max 0 (deferral off: every attempt falls back and
# keeps its increment) and one later write of 3, at any time: finding F5.
WedgeMachine = machine(
    "WedgeMachine",
    Focus(
        close_path="close-new",
        defer="defer-v6",
        machine="2cpu-1node",
        rx_cpu=0,
        close_cpus=(1,),
        defer_max=0,
        sysctl_values=(3,),
        sysctl_writes=1,
        min_skbs=3,
    ),
)

# The candidate fixes of the findings (model/kernels.py "fix-*"), each drawn on or off, in the
# attack's shape with CPU hotplug under full preemption, error-queue skbs and sysctl writes: the
# steps each fix changes (a fallback before the increment, the error queue's purge and refusal,
# a detach before the reset) are taken, and ``check --kernel v7.3+fixes`` runs it with them all on.
FixedMachine = machine(
    "FixedMachine",
    Focus(machine="2cpu-1node", rx_cpu=0, close_cpus=(1, 1), hotplug=True, errqueue=True, min_skbs=2,
          preempt="full", fixes=True),
)  # fmt: skip

MACHINES: dict[str, type[SpecMachine]] = {
    "close": CloseMachine,
    "hotplug": HotplugMachine,
    "race": RaceMachine,
    "offline": OfflineMachine,
    "sysctl": SysctlMachine,
    "wedge": WedgeMachine,
    "fixed": FixedMachine,
}


def run_recording(cls: type[SpecMachine], budget: settings | None = None) -> None:
    """Run a machine as a test; on a violation, write the shrunk run as a trace file and re-raise
    with the file's path added to the message (replay it with ``tcpclose replay``)."""
    from properties import traces

    try:
        run_state_machine_as_test(cls, settings=budget)
    except InvariantViolation as err:
        verdict = check_run(err.initial, err.actions, cls.only)
        path = traces.record(traces.Trace(err.initial, tuple(err.actions), found_by=cls.__name__, violation=verdict))
        err.args = (f"{err.args[0]}\ntrace written to {path}",)
        raise
