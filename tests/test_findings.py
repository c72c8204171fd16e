"""Each finding's trace keeps violating its invariant, at the step we know, and nothing earlier;
and each finding holds exactly where properties/findings.py says (preemption models, kernels)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from model.small import small
from properties.checker import NotEnabledAt, check_run
from properties.explorer import explore
from properties.findings import FINDINGS, f2, f2_page_pool, f3
from properties.invariants import REGISTRY
from spec import Action, SockDestruct, State
from spec.state import DeferVariant, Preempt

# Where each finding shows, worked out by hand from its trace: F1 at the decision (step 3);
# F2, F3, F5 and F6 at quiescence after the last step; F4 at the decision, the last of 19 steps;
# F7 at the push of the zero-copy skb (step 7). Issue 13 added a DeferRead after every passed
# DeferCheck (F2 +2, F3 +2, F4 +2, F5 +3, F6 +3) and, in F4, the flush the retransmission's
# arrival runs first on CPU 0, whose slot holds the first skb (FlushReset, FlushDetach,
# FlushFree: +3).
EXPECTED_STEP = {"F1": 3, "F2": 18, "F3": 16, "F4": 19, "F5": 19, "F6": 26, "F7": 7}


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_finding_reproduces(fid: str) -> None:
    finding = FINDINGS[fid]
    state, actions = finding.build()
    verdict = check_run(state, actions)
    assert (verdict.invariant, verdict.step) == (finding.invariant, EXPECTED_STEP[fid]), verdict


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_finding_is_the_only_violation(fid: str) -> None:
    """Skipping the finding's invariant, the same trace breaks nothing else."""
    finding = FINDINGS[fid]
    state, actions = finding.build()
    assert check_run(state, actions, skip=frozenset({finding.invariant})).holds


def test_f1_promise_holds_at_destruction() -> None:
    """Expected: F1's socket, destroyed after its close, gives the error-queue skb's 768 bytes
    back (inet_sock_destruct() purges the error queue): sk_rmem_alloc 0, sk_forward_alloc 0, and
    rmem_zero_at_destruction holds at that step (FACTS §5.4)."""
    state, actions = FINDINGS["F1"].build()
    run: list[Action] = [*actions, SockDestruct(0)]
    verdict = check_run(state, run, skip=frozenset({"rmem_zero_after_purge"}))
    assert verdict.holds and verdict.step == 4


@pytest.mark.parametrize("defer", ["defer-v6", "defer-v2"])
def test_f2_f3_hold_under_full_preemption_on_both_defer_versions(defer: DeferVariant) -> None:
    """Expected: the offline race reproduces F2 (quiescent, after CpuOnline) and F3 on defer-v6
    and on defer-v2 (v6.17: the guard of 97e719a82b43, no count step: 2 steps fewer)."""
    fewer = 2 if defer == "defer-v2" else 0
    cases: tuple[tuple[Callable[..., tuple[State, list[Action]]], str, int], ...] = (
        (f2, "kick_leads_to_flush", 18),
        (f3, "dead_cpu_slots_emptied", 16),
    )
    for build, inv, step in cases:
        state, actions = build(defer)
        verdict = check_run(state, actions)
        assert (verdict.invariant, verdict.step, verdict.quiescent) == (inv, step - fewer, True)


def test_f2_through_the_page_pool_walk() -> None:
    """Expected: page_pool_release_retry() reads CPU 0 online, CPU 0 goes down, the walk's kick
    sets the guard with no IPI (CPU 1's kick is served), CPU 0 returns: F2 after step 8."""
    state, actions = f2_page_pool()
    verdict = check_run(state, actions)
    assert (verdict.invariant, verdict.step, verdict.quiescent) == ("kick_leads_to_flush", 8, True)


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


def _violations(state: State) -> list[str]:
    seen: list[str] = []
    skip: frozenset[str] = frozenset()
    while (result := explore(state, skip=skip, max_seconds=120)).violation is not None:
        seen.append(result.violation.invariant)
        skip |= {result.violation.invariant}
    assert result.complete, result.reason
    return seen


@pytest.mark.parametrize("preempt", ["none", "voluntary"])
def test_f2_f3_gone_without_full_preemption(preempt: Preempt) -> None:
    """Expected: the acceptance configuration (hotplug with the flush, a sysctl write) and its
    twin without the flush violate nothing once the kernel cannot preempt the producer inside
    skb_attempt_defer_free(): F2 and F3 are gone, not just their traces (under full preemption
    the explorer finds F3 and F2 there, tests/test_explorer.py)."""
    with_flush = small(cpus=2, nodes=2, skbs=3, hotplug=True, sysctl=2, hotplug_flush=True, preempt=preempt)
    without = small(cpus=2, nodes=2, skbs=3, hotplug=True, sysctl=2, preempt=preempt)
    assert _violations(with_flush) == []
    assert _violations(without) == []


def test_f7_gone_with_the_zero_copy_test() -> None:
    """Expected: with 0943404b1f3b (v6.18.y, v6.19.y) the zero-copy skb of F7's trace is freed at
    the check step (nodefer:zcopy), so the trace stops being a run: its DeferRead is refused."""
    state, actions = FINDINGS["F7"].build()
    fixed = state.__class__(**{**state.__dict__, "config": state.config.__class__(zcopy_check=True)})
    with pytest.raises(NotEnabledAt) as err:
        check_run(fixed, actions)
    assert err.value.step == 5


def test_every_finding_names_a_registered_invariant() -> None:
    assert {f.invariant for f in FINDINGS.values()} <= set(REGISTRY)
