"""Each finding's trace keeps violating its invariant, at the step we know, and nothing earlier."""

from __future__ import annotations

import pytest

from properties.checker import check_run
from properties.findings import FINDINGS

# Where each finding shows, worked out by hand from its trace: F1 at the decision (step 3);
# F2, F3, F5 and F6 at quiescence after the last step; F4 at the decision, the last of 14 steps.
EXPECTED_STEP = {"F1": 3, "F2": 16, "F3": 14, "F4": 14, "F5": 16, "F6": 23}


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
