"""close-old and close-new agree on every drawn workload, and the comparison catches a mutant."""

from __future__ import annotations

from hypothesis import given, settings

from model.scenarios import attack
from properties.agreement import close_paths_agree
from properties.mutants import MUTANTS
from properties.workloads import Focus, initial_states
from spec import State


@settings(max_examples=200)
@given(initial_states(Focus(close_path="close-new")))
def test_close_paths_agree(state: State) -> None:
    assert close_paths_agree(state) is None


def test_attack_scenario_agrees() -> None:
    assert close_paths_agree(attack(kernel_name="v6.18").state) is None


def test_agreement_catches_a_close_new_mutant() -> None:
    """Expected: close-new without the uncharge leaves 2 x 2304 bytes in sk_rmem_alloc of a
    socket with two unread skbs, close-old leaves 0."""
    state = attack(kernel_name="v6.18", sockets=1, skbs=2).state
    with MUTANTS["eat_skips_uncharge"].applied():
        found = close_paths_agree(state)
    assert found is not None and "'sk_rmem_alloc': (0, 4608)" in found, found
