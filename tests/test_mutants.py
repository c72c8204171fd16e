"""Every mutant of the catalogue is caught by the invariant it names; the unmodified spec passes
the focused machines the mutants run in."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from properties.machines import InvariantViolation, machine
from properties.mutants import MUTANTS
from properties.workloads import Focus

# Search without shrinking: the test needs the violation, not the shortest one
# (benchmarks/mutants.py measures shrunk lengths). The budget is a ceiling, not a target: every
# mutant is found in far fewer examples under the CI profile's fixed seed.
HUNT = settings(settings(), max_examples=2000, phases=[Phase.explicit, Phase.generate], print_blob=False)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught_by_its_invariant(name: str) -> None:
    mutant = MUTANTS[name]
    hunted = machine(f"Mutant_{name}", mutant.focus)
    with mutant.applied(), pytest.raises(InvariantViolation) as caught:
        run_state_machine_as_test(hunted, settings=HUNT)
    assert caught.value.invariant in mutant.invariants, str(caught.value)[:2000]


def test_catalogue_is_large_enough() -> None:
    assert len(MUTANTS) >= 20


FOCI = sorted({m.focus for m in MUTANTS.values()} - {Focus()}, key=repr)


@pytest.mark.parametrize("focus", FOCI, ids=[f.label() for f in FOCI])
def test_unmodified_spec_passes_focused_machine(focus: Focus) -> None:
    run_state_machine_as_test(machine("Focused", focus), settings=settings(settings(), max_examples=150))
