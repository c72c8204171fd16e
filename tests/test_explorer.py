"""The exhaustive explorer (properties/explorer.py) on the small configurations of model/small.py.

- The distinct-state and transition counts of two tiny configurations are pinned. A change in
  either number is a change in the spec's behaviour (a new or lost interleaving, a field that
  now differs between states): it must be explained in the commit that causes it.
- The unmodified spec violates nothing on the small configurations that a known finding
  (properties/findings.py) does not explain: with every invariant checked the search completes,
  and it meets exactly the findings reachable there, each with a run that replays to it.
- Every mutant of the catalogue (properties/mutants.py) is found by the explorer, for each
  invariant it names, on the smallest configuration we know that exposes it (one skb fewer does
  not), and that configuration is clean without the mutant.
- Every counterexample replays through properties.checker.check_run to the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from model.small import FOR_MUTANT, FOR_MUTANT_INVARIANT, SMALL, cpu_nodes, for_mutant, small
from properties.checker import check_run
from properties.explorer import Counterexample, ExploreResult, explore
from properties.findings import FINDINGS
from properties.mutants import MUTANTS
from spec import SpecError, State


def only(invariant: str) -> frozenset[str]:
    """Exactly ``invariant`` checked (the mutant tests' isolation)."""
    return frozenset({invariant})


def assert_replays(cx: Counterexample, checked: frozenset[str] | None = None) -> None:
    verdict = check_run(cx.initial, cx.actions, checked)
    assert (verdict.invariant, verdict.step, verdict.quiescent) == (cx.invariant, cx.step, cx.quiescent)


# -- pinned counts -------------------------------------------------------------------------------

# (distinct states, transitions, depth). A change here is a change in the spec's behaviour: explain it.
PINNED = {
    "tiny-1": (66, 114, 12),
    "tiny-2": (32, 36, 18),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_counts(name: str) -> None:
    result = explore(SMALL[name].build())
    assert result.complete and result.violation is None, result.summary()
    got = (result.distinct_states, result.transitions, result.depth)
    assert got == PINNED[name], (
        f"{name}: {got} != pinned {PINNED[name]}. This is a change detector, not a check: the spec's "
        "behaviour changed (a new or lost interleaving, or a field that now tells states apart). The named "
        "invariants judge whether the change is right; if it is intended, re-pin and say why in the commit."
    )


# -- the unmodified spec -------------------------------------------------------------------------

# "epoch" is the configuration on which the explorer found that the spec's ghost history booked
# a producer that counted before a flush's reset into the epoch after it (DeferRecord.epoch was
# taken at the push, not at the count; fixed): slot_epoch_bound must now hold there.

# Per configuration: the known findings the explorer meets, in the order it meets them.
EXPECTED: dict[str, tuple[str, ...]] = {
    "tiny-1": (),
    "tiny-2": (),
    "acceptance": ("F7", "F3", "F2"),
    "no-hotplug-flush": ("F7", "F2"),
    "epoch": (),
    "sysctl-mid-epoch": ("F8",),
    "error-queue": ("F1",),
    "old-unread-test": ("F4",),
    "wedge": ("F5",),
    "reset-window": ("F6",),
}

CONFIGS: dict[str, Callable[[], State]] = {
    **{name: s.build for name, s in SMALL.items()},
    "no-hotplug-flush": lambda: small(cpus=2, nodes=2, skbs=3, hotplug=True, sysctl=2),
    "epoch": lambda: small(cpus=2, nodes=1, skbs=4, netrx_raises=1),
    "sysctl-mid-epoch": lambda: small(cpus=2, nodes=1, skbs=3, defer_max=3, sysctl=4),
    "error-queue": lambda: small(skbs=1, errqueue=True),
    "old-unread-test": lambda: small(skbs=1, recv=1448, retransmit_fin=True, unread_test="len_sum"),
    "wedge": lambda: small(skbs=3, defer_max=0, sysctl=3),
    "reset-window": lambda: small(sockets=2, skbs=2, defer_max=2, netrx_raises=1),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unmodified_spec_violates_only_known_findings(name: str) -> None:
    result = explore(CONFIGS[name](), max_seconds=60)
    assert result.violation is None, result.violation
    assert result.complete, result.reason
    assert tuple(fid for fid, _ in result.findings) == EXPECTED[name]
    for fid, cx in result.findings:
        verdict = check_run(cx.initial, cx.actions)
        assert verdict.holds and verdict.findings[-1] == fid and verdict.step == cx.step, (fid, verdict)
        assert FINDINGS[fid].invariant == cx.invariant


def test_acceptance_f3_run_is_the_known_race() -> None:
    """The shortest F3 run: the producer counts, CPU 0 goes down and dev_cpu_dead() empties its
    slots, the producer pushes onto the dead CPU's slot."""
    result = explore(SMALL["acceptance"].build())
    cx = dict(result.findings)["F3"]
    assert (cx.invariant, cx.step, cx.quiescent) == ("dead_cpu_slots_emptied", 9, True)
    names = [type(a).__name__ for a in cx.actions]
    assert names[-4:] == ["CpuOffline", "DevCpuDead", "DeferPush", "CloseDecide"]


def test_budgets_end_with_a_reason() -> None:
    state = SMALL["acceptance"].build()
    by_states = explore(state, max_states=100)
    assert not by_states.complete and by_states.violation is None
    assert "state budget of 100" in by_states.reason and by_states.distinct_states == 100
    by_time = explore(state, max_seconds=0)
    assert not by_time.complete and "time budget" in by_time.reason


def test_unknown_invariant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown invariants"):
        explore(SMALL["tiny-1"].build(), only=frozenset({"no_such_invariant"}))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cpus": 0}, "at least one CPU"),
        ({"cpus": 2, "nodes": 3}, "nodes must be between 1"),
        ({"skbs": -1}, "skbs must be >= 0"),
        ({"sockets": -1}, "sockets must be >= 0"),
        ({"defer_max": -1}, "defer_max must be >= 0"),
        ({"sysctl": -2}, "written must be >= 0"),
        ({"cpus": 1, "hotplug": True}, "hotplug needs at least two CPUs"),
    ],
)
def test_small_refuses_impossible_parameters(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        small(**kwargs)  # type: ignore[arg-type]


def test_cpu_nodes_match_the_named_machines() -> None:
    assert [cpu_nodes(2, 1), cpu_nodes(2, 2), cpu_nodes(3, 2), cpu_nodes(4, 2)] == [
        (0, 0),
        (0, 1),
        (0, 0, 1),
        (0, 0, 1, 1),
    ]


# -- mutants -------------------------------------------------------------------------------------


CASES = sorted((m.name, inv) for m in MUTANTS.values() for inv in m.invariants)


def hunt(name: str, invariant: str, skbs: int) -> ExploreResult:
    with MUTANTS[name].applied():
        return explore(for_mutant(name, invariant).build(skbs), only=only(invariant), max_seconds=30)


@pytest.mark.parametrize(("name", "invariant"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_explorer_finds_mutant(name: str, invariant: str) -> None:
    config = for_mutant(name, invariant)
    clean = explore(config.build(), only=only(invariant), max_seconds=30)
    assert clean.complete and clean.violation is None, clean.summary()
    found = hunt(name, invariant, config.skbs)
    assert found.violation is not None and found.violation.invariant == invariant, found.summary()
    with MUTANTS[name].applied():
        assert_replays(found.violation, only(invariant))
    if config.skbs > 0:
        smaller = hunt(name, invariant, config.skbs - 1)
        assert smaller.complete and smaller.violation is None, smaller.summary()


def test_every_mutant_has_a_config() -> None:
    assert set(FOR_MUTANT) == set(MUTANTS)
    assert {name for name, _ in FOR_MUTANT_INVARIANT} <= set(MUTANTS)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_config_keeps_the_variants_of_its_focus(name: str) -> None:
    """A mutant's configuration may be smaller than its Focus (fewer CPUs, no environment it does
    not need) but runs the kernel variants the Focus pins."""
    focus = MUTANTS[name].focus
    for inv in MUTANTS[name].invariants:
        state = for_mutant(name, inv).build()
        pinned = {
            "close_path": (focus.close_path, state.config.close_path),
            "defer": (focus.defer, state.config.defer),
            "hotplug_flush": (focus.hotplug_flush, state.config.hotplug_flush),
        }
        for field, (want, got) in pinned.items():
            assert want is None or want == got, f"{name}: {field} {got} but its focus pins {want}"
        assert state.config.unread_test == focus.unread_test
        assert not focus.hotplug or state.env.offlines > 0
