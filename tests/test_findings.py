"""Known findings: each pinned trace shows its finding, recognised by its signature, at the step
we know; nothing else fails on it; a signature explains only its own mechanism; and each finding
holds exactly where properties/findings.py says (preemption models, kernels)."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from model.scenarios import socket
from model.small import small
from properties import invariants
from properties.checker import NotEnabledAt, check_run
from properties.explorer import explore
from properties.findings import FINDINGS, f2, f2_page_pool, f3, recognise
from properties.invariants import REGISTRY
from properties.runs import Run, Violation
from spec import (
    Action,
    CloseDecide,
    CloseStart,
    Config,
    DeferCheck,
    DeferCount,
    DeferRead,
    Env,
    Incoming,
    PacketArrives,
    PurgeStep,
    SetDeferMax,
    SockDestruct,
    State,
    UserOp,
    boot,
)
from spec.state import DeferVariant, Preempt

# Where each finding's invariant first fails on its trace, worked out by hand: F1 at the decision
# (step 3); F4 at the decision, the last of 19 steps; F7 at the second skb's push onto the offline
# CPU (step 15 of the offline race: two arrivals, the close, five steps for the first skb, the
# purge step and check of the second, CPU 0 down and dead, its read, count and push); F8 at the
# second kick (step 22); F9 at the push of the zero-copy skb (step 7); F2, F3, F5, F6, F10 and F11
# at quiescence after the last step.
EXPECTED_STEP = {
    "F1": 3,
    "F2": 18,
    "F3": 16,
    "F4": 19,
    "F5": 19,
    "F6": 26,
    "F7": 15,
    "F8": 22,
    "F9": 7,
    "F10": 19,
    "F11": 38,
}
# The findings each trace shows, in order: F2's and F3's races go through F7's push first.
EXPECTED_SEEN = {"F2": ("F7", "F2"), "F3": ("F7", "F3")}


def first_failure(state: State, actions: list[Action], invariant: str) -> int:
    """The step after which ``invariant`` alone first fails on the run (its length at quiescence)."""
    run = Run(state, actions)
    only = frozenset({invariant})
    for i, _, a, post in run.transitions():
        if invariants.transition_violations(run.states[i - 1], a, post, only) or invariants.state_violations(
            post, only
        ):
            return i
    assert invariants.quiescent_violations(run.final, only)
    return len(actions)


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_finding_trace_shows_it_and_nothing_else(fid: str) -> None:
    finding = FINDINGS[fid]
    state, actions = finding.build()
    verdict = check_run(state, actions)
    assert verdict.holds, verdict  # every violation on the trace is explained by a known finding
    assert verdict.findings == EXPECTED_SEEN.get(fid, (fid,))


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_finding_shows_at_the_known_step(fid: str) -> None:
    state, actions = FINDINGS[fid].build()
    assert first_failure(state, actions, FINDINGS[fid].invariant) == EXPECTED_STEP[fid]


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_signature_is_specific(fid: str) -> None:
    """A violation of the same invariant at a step where the mechanism did not happen is not
    recognised: the signature is asked about the trace's first step instead."""
    finding = FINDINGS[fid]
    state, actions = finding.build()
    early = Violation(finding.invariant, "", 1, quiescent=False)
    assert recognise(Run(state, actions[:1]), early) is None


def test_f1_promise_holds_at_destruction() -> None:
    """Expected: F1's socket, destroyed after its close, gives the error-queue skb's 768 bytes
    back (inet_sock_destruct() purges the error queue): rmem_zero_at_destruction holds at that
    step (FACTS §5.4); the run shows F1 at the decision and nothing else."""
    state, actions = FINDINGS["F1"].build()
    verdict = check_run(state, [*actions, SockDestruct(0)])
    assert verdict.holds and verdict.step == 4 and verdict.findings == ("F1",)


@pytest.mark.parametrize("defer", ["defer-v6", "defer-v2"])
def test_f2_f3_hold_under_full_preemption_on_both_defer_versions(defer: DeferVariant) -> None:
    """Expected: the offline race shows F2 (quiescent, after CpuOnline) and F3 on defer-v6 and on
    defer-v2 (v6.17: the guard of 97e719a82b43, no count step: 2 steps fewer)."""
    fewer = 2 if defer == "defer-v2" else 0
    cases: tuple[tuple[Callable[..., tuple[State, list[Action]]], str, int], ...] = ((f2, "F2", 18), (f3, "F3", 16))
    for build, fid, at in cases:
        state, actions = build(defer)
        verdict = check_run(state, actions)
        assert verdict.holds and verdict.findings == ("F7", fid), verdict
        assert first_failure(state, actions, FINDINGS[fid].invariant) == at - fewer


def test_f2_through_the_page_pool_walk() -> None:
    """Expected: page_pool_release_retry() reads CPU 0 online, CPU 0 goes down, the walk's kick
    sets the guard with no IPI (CPU 1's kick is served), CPU 0 returns: F2 after step 8."""
    state, actions = f2_page_pool()
    verdict = check_run(state, actions)
    assert verdict.holds and verdict.findings == ("F2",) and verdict.step == 8 and verdict.quiescent


@pytest.mark.parametrize("preempt", ["none", "voluntary"])
def test_f2_f3_traces_are_impossible_without_full_preemption(preempt: Preempt) -> None:
    """Expected: under NONE and VOLUNTARY the CPU cannot go down while the producer is inside
    skb_attempt_defer_free() (step 11 of the offline race) or while the page-pool walk is between
    its online test and its kick (step 2): stop_machine() would wait (FACTS §14)."""
    builds: tuple[tuple[Callable[..., tuple[State, list[Action]]], int], ...] = ((f2, 11), (f3, 11), (f2_page_pool, 2))
    for build, at in builds:
        state, actions = build(preempt=preempt)
        with pytest.raises(NotEnabledAt) as err:
            check_run(state, actions)
        assert err.value.step == at and "preempt=" in str(err.value)


@pytest.mark.parametrize("preempt", ["none", "voluntary"])
def test_f2_f3_f7_gone_without_full_preemption(preempt: Preempt) -> None:
    """Expected: the acceptance configuration (hotplug with the flush, a sysctl write) and its
    twin without the flush violate nothing and meet no finding once the kernel cannot preempt the
    producer inside skb_attempt_defer_free(): F2, F3 and F7 are gone, not just their traces (under
    full preemption the explorer meets them there, tests/test_explorer.py)."""
    for hotplug_flush in (True, False):
        state = small(cpus=2, nodes=2, skbs=3, hotplug=True, sysctl=2, hotplug_flush=hotplug_flush, preempt=preempt)
        result = explore(state, max_seconds=120)
        assert result.complete and result.violation is None and result.findings == (), result.summary()


def test_f9_gone_with_the_zero_copy_test() -> None:
    """Expected: with 0943404b1f3b (v6.18.y, v6.19.y) the zero-copy skb of F9's trace is freed at
    the check step (nodefer:zcopy), so the trace stops being a run: its DeferRead is refused."""
    state, actions = FINDINGS["F9"].build()
    fixed = attrs.evolve(state, config=state.config.__class__(zcopy_check=True))
    with pytest.raises(NotEnabledAt) as err:
        check_run(fixed, actions)
    assert err.value.step == 5


def test_every_finding_names_a_registered_invariant() -> None:
    assert {f.invariant for f in FINDINGS.values()} <= set(REGISTRY)


def test_f5_when_the_write_falls_between_the_read_and_the_increment() -> None:
    """Expected (found by the race machine under the dev profile): the first attempt reads
    skb_defer_max 0, the sysctl goes to 2 before its increment, which falls back (count 1); the
    second attempt reads 2 and falls back at count 2. The empty slot with count 2 >= 2 is F5: an
    increment read a smaller maximum than today's (the one its read step saw, not the sysctl at the
    increment)."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    env = Env(defer_max_values=(2,), defer_max_writes=1)
    state = boot(Config(), (0, 0), 0, [socket(0, packets, [UserOp("close", 1)])], env)
    attempt: list[Action] = [PurgeStep(0), DeferCheck(0), DeferRead(0)]
    actions: list[Action] = [PacketArrives(0), PacketArrives(0), CloseStart(0), *attempt, SetDeferMax(2),
                             DeferCount(0), *attempt, DeferCount(0), CloseDecide(0)]  # fmt: skip
    verdict = check_run(state, actions)
    assert verdict.holds and verdict.quiescent and verdict.findings == ("F5",), verdict
