"""Every invariant catches a deliberately broken spec.

Each mutant of the catalogue is hunted by a state machine that checks only the invariant the
mutant names, so the test shows that this invariant, on its own, catches it; violations that a
known finding's signature explains do not count as a catch, so a mutant that breaks the same
invariant as a finding is told apart from it by the signature. The unmodified spec passes the
focused machines the mutants run in, and every invariant in the registry is named by at least one
mutant.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from model.scenarios import socket
from properties.checker import NotEnabledAt, check_run
from properties.findings import f3
from properties.invariants import REGISTRY
from properties.machines import InvariantViolation, machine
from properties.mutants import MUTANTS, TRACE_MUTANTS, hunt
from properties.workloads import Focus
from spec import (
    CloseDecide,
    CloseStart,
    Config,
    CpuOffline,
    DeferCheck,
    DeferCount,
    DeferKick,
    DeferPush,
    DeferRead,
    DevCpuDead,
    Env,
    FlushDetach,
    FlushFree,
    FlushReset,
    Incoming,
    PacketArrives,
    PurgeStep,
    RaiseNetRx,
    SoftirqStart,
    UserOp,
    boot,
)

# hunt() searches without shrinking: the test needs a violation, not the shortest one
# (benchmarks/mutants.py measures shrunk lengths). Its budget of 2000 examples is a ceiling: under
# the CI profile's fixed seed every mutant is found in far fewer.

CASES = sorted((m.name, inv) for m in MUTANTS.values() for inv in m.invariants)


@pytest.mark.parametrize(("name", "invariant"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_mutant_is_caught_by_its_invariant(name: str, invariant: str) -> None:
    found = hunt(name, invariant, shrink=False)
    assert isinstance(found, InvariantViolation), f"mutant {name} survived"
    assert found.invariant == invariant, str(found)[:2000]


def test_hotplug_flush_skipped_is_caught_on_a_trace() -> None:
    """Expected: with the hotplug flush, two skbs deferred to CPU 0, CPU 0 goes down,
    dev_cpu_dead() runs (step 16: each attempt has its read step since issue 13): the spec frees
    both (dead_cpu_slots_emptied holds at quiescence); the mutant that skips the flush leaves
    them on the dead CPU's slot and is caught."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    state = boot(Config(hotplug_flush=True), (0, 0), 64, [socket(0, packets, [UserOp("close", 1)])], Env(offlines=1))
    per_skb = [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    actions = [PacketArrives(0), PacketArrives(0), CloseStart(0), *per_skb, *per_skb, CloseDecide(0)]
    actions += [CpuOffline(0), DevCpuDead(0)]
    assert check_run(state, actions).holds
    with TRACE_MUTANTS["hotplug_flush_skipped"].applied():
        verdict = check_run(state, actions, frozenset({"dead_cpu_slots_emptied"}))
    assert (verdict.invariant, verdict.step, verdict.quiescent) == ("dead_cpu_slots_emptied", 16, True)


def test_offline_ignoring_preemption_is_caught_on_a_trace() -> None:
    """Expected: F3's offline race on a PREEMPT_VOLUNTARY kernel is not a run of the spec (the CPU
    cannot go down at step 11, the producer being inside skb_attempt_defer_free(); FACTS §14).
    The mutant that lets it go down anyway reproduces F3: dead_cpu_slots_emptied at quiescence
    after step 16, which F3's signature does not explain (F3 needs full preemption)."""
    state, actions = f3(preempt="voluntary")
    with pytest.raises(NotEnabledAt):
        check_run(state, actions)
    with TRACE_MUTANTS["offline_ignores_preempt"].applied():
        verdict = check_run(state, actions, frozenset({"dead_cpu_slots_emptied"}))
    assert (verdict.invariant, verdict.step, verdict.quiescent) == ("dead_cpu_slots_emptied", 16, True)


def test_every_invariant_is_shown_to_catch_a_mutant() -> None:
    named = {inv for m in (*MUTANTS.values(), *TRACE_MUTANTS.values()) for inv in m.invariants}
    assert set(REGISTRY) - named == set()
    assert len(MUTANTS) + len(TRACE_MUTANTS) >= 20


FOCI = sorted({m.focus for m in MUTANTS.values()} - {Focus()}, key=repr)


@pytest.mark.parametrize("focus", FOCI, ids=[f.label() for f in FOCI])
def test_unmodified_spec_passes_focused_machine(focus: Focus) -> None:
    run_state_machine_as_test(machine("Focused", focus), settings=settings(settings(), max_examples=150))


def test_flush_keeps_count_is_caught_on_a_run() -> None:
    """Expected: one socket, 4 skbs built on CPU 0, closed on CPU 1, skb_defer_max 4, run fairly
    to quiescence. The third skb (count 3 = 4/2 + 1) kicks CPU 0, whose flush resets the count,
    so the fourth is deferred too: no slot is wedged. If the flush keeps the count at 3, the
    fourth attempt counts 4 and falls back, and the slot, empty with count 4 >= 4, is wedged."""
    from model.scheduler import run

    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(4)]
    state = boot(Config(), (0, 0), 4, [socket(0, packets, [UserOp("close", 1)])])
    spec_run = run(state)
    assert check_run(state, spec_run.actions).holds
    with TRACE_MUTANTS["flush_keeps_count"].applied():
        mutant_run = run(state)
        verdict = check_run(state, mutant_run.actions)
    assert (verdict.invariant, verdict.quiescent) == ("no_wedged_slot", True), verdict


def test_csd_lock_untested_is_caught_on_a_run() -> None:
    """Expected: v6.18 without the IPI guard, one socket, 4 skbs built on CPU 0 and closed on CPU
    1 with skb_defer_max 3: the second push kicks (the descriptor is queued), an unrelated NET_RX
    run on CPU 0 flushes, and the fourth push kicks again before the IPI runs. The spec's kick
    finds the descriptor locked (-EBUSY) and sends nothing; the mutant's goes on to a second
    step that queues it a second time.
    One producer cannot race its own kicks, so this is no run of the bug of 97e719a82b43."""
    from model.small import small

    state = small(skbs=4, defer_max=3, netrx_raises=1, ipi_guard=False)
    attempt = [DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    actions = [*(PacketArrives(0) for _ in range(4)), CloseStart(0), PurgeStep(0), *attempt, PurgeStep(0),
               *attempt, DeferKick(0), DeferKick(0), RaiseNetRx(0), SoftirqStart(0), FlushReset(0),
               FlushDetach(0), FlushFree(0), PurgeStep(0), *attempt, PurgeStep(0), *attempt, DeferKick(0)]  # fmt: skip
    only = frozenset({"at_most_one_ipi_in_flight"})
    assert check_run(state, actions, only).holds
    with TRACE_MUTANTS["csd_lock_untested"].applied():  # its kick goes on to queue the descriptor
        verdict = check_run(state, [*actions, DeferKick(0)], only)
    assert (verdict.invariant, verdict.step) == ("at_most_one_ipi_in_flight", len(actions) + 1), verdict
