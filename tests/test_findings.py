"""Known findings: each pinned trace shows its finding, recognised by its signature, at the step
we know; nothing else fails on it; and a signature explains only its own mechanism."""

from __future__ import annotations

import pytest

from properties.checker import check_run
from properties.findings import FINDINGS, recognise
from properties.runs import Run, Violation

# Where each finding shows, worked out by hand from its trace: F1 and F4 at the decision (steps 3
# and 14); F7 at the push onto the offline CPU (step 13 of F2, F3 and F7's shared race); F8 at the
# second kick (step 19); F2, F3, F5, F6 at quiescence after the last step.
EXPECTED_STEP = {"F1": 3, "F2": 16, "F3": 14, "F4": 14, "F5": 16, "F6": 23, "F7": 13, "F8": 19}
# The findings each trace shows, in order: F2's and F3's races go through F7's push first.
EXPECTED_SEEN = {"F2": ("F7", "F2"), "F3": ("F7", "F3")}


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_finding_trace_shows_it_and_nothing_else(fid: str) -> None:
    finding = FINDINGS[fid]
    state, actions = finding.build()
    verdict = check_run(state, actions)
    assert verdict.holds, verdict  # every violation on the trace is explained by a known finding
    assert verdict.findings == EXPECTED_SEEN.get(fid, (fid,))


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_finding_shows_at_the_known_step(fid: str) -> None:
    """Checking only the finding's invariant, the first violation is at the step worked out by hand."""
    finding = FINDINGS[fid]
    state, actions = finding.build()
    run = Run(state, actions)
    from properties import invariants

    only = frozenset({finding.invariant})
    first = None
    for i, pre, a, post in run.transitions():
        if invariants.transition_violations(pre, a, post, only) or invariants.state_violations(post, only):
            first = i
            break
    if first is None:
        assert invariants.quiescent_violations(run.final, only)
        first = len(actions)
    assert first == EXPECTED_STEP[fid]


@pytest.mark.parametrize("fid", sorted(FINDINGS))
def test_signature_is_specific(fid: str) -> None:
    """A violation of the same invariant at a step where the mechanism did not happen is not
    recognised: the signature is asked about the trace's first step instead."""
    finding = FINDINGS[fid]
    state, actions = finding.build()
    early = Violation(finding.invariant, "", 1, quiescent=False)
    assert recognise(Run(state, actions[:1]), early) is None
