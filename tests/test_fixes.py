"""The candidate fixes of the findings (issue 12, part 3): every search of model/fixes.py EVIDENCE
is re-run and must give its pinned figures; each fix removes what its switch claims and a
candidate that does not fix its finding is shown not to; the kernel with every chosen fix meets no
finding; and a kernel that has a fix fails ``check`` when the finding it fixes shows."""

from __future__ import annotations

from collections import deque
from functools import cache
from pathlib import Path

import attrs
import pytest

from model.fix_costs import cost
from model.fixes import EVIDENCE, evidence_for
from model.kernels import CHOSEN_FIXES, FIX_SWITCHES, KERNELS, SWITCHES
from model.small import SMALL
from properties import checkrun
from properties.explorer import ExploreResult, explore
from spec import State, successors
from spec.defer import attempts
from tests.test_replay import tcpclose


@cache
def _explore(config: str, kernel: str) -> ExploreResult:
    return explore(SMALL[config].build(kernel=kernel))


def _met(result: ExploreResult) -> tuple[str, ...]:
    return tuple(sorted((fid for fid, _ in result.findings), key=lambda f: int(f[1:])))


def _sorted(findings: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(findings, key=lambda f: int(f[1:])))


@pytest.mark.parametrize("kernel", list(EVIDENCE))
def test_evidence_is_what_the_explorer_finds(kernel: str) -> None:
    for run in EVIDENCE[kernel].runs:
        before, after = _explore(run.config, "v7.3"), _explore(run.config, kernel)
        for result in (before, after):
            assert result.complete and result.violation is None, (run.config, result.summary())
        assert _met(before) == _sorted(run.before), (run.config, "v7.3", before.summary())
        assert _met(after) == _sorted(run.after), (run.config, kernel, after.summary())
        assert after.distinct_states == run.states, (run.config, kernel, after.summary())


@pytest.mark.parametrize("switch", [s.id for s in FIX_SWITCHES])
def test_each_fix_removes_what_it_claims_and_a_failed_candidate_is_shown(switch: str) -> None:
    """Expected: every candidate has its own kernel and evidence; the findings its switch claims
    are met on v7.3 and not with it; a finding it was only tried against is still met."""
    sw = SWITCHES[switch]
    evidence = evidence_for(switch)
    assert evidence is not None and f"v7.3+{switch}" in KERNELS
    assert set(sw.fixes) <= set(evidence.removes) or set(sw.fixes) - set(evidence.still) == set(sw.fixes)
    assert not set(sw.fixes) & set(evidence.still), evidence.words()
    # A candidate that does not fix: its finding is still met, or another takes its place.
    assert set(sw.tried) <= set(evidence.still) or evidence.introduces, evidence.words()
    assert sw.fixes or sw.tried


def test_the_kernel_with_every_chosen_fix_meets_no_finding() -> None:
    fixed = EVIDENCE["v7.3+fixes"]
    assert set(CHOSEN_FIXES) == set(fixed.switches)
    assert fixed.still == [] and fixed.introduces == []
    assert set(fixed.removes) == {"F1", "F2", "F3", "F5", "F6", "F7", "F8", "F10", "F11"}
    assert {"acceptance", "larger-skbs", "larger-cpus", "sysctl-mid-epoch", "sysctl-skip", "straggler"} <= {
        r.config for r in fixed.runs
    }
    # Every finding a chosen fix claims is one of the kernel's fixes.
    assert {f for s in CHOSEN_FIXES for f in SWITCHES[s].fixes} <= set(KERNELS["v7.3+fixes"].fixes)


def test_the_kick_claim_with_the_reset_is_the_dilemma() -> None:
    """fix-F8's claim on a flush that still resets the count (v7.3 with only kick_once_per_epoch):
    the second kick of sysctl-mid-epoch is gone, and the attempt counted after the claim and pushed
    after the flush's detach waits on the new list with no kick owed: F11. Hence its kernel carries
    fix-F11-flush-subtracts-detached."""
    initial = SMALL["sysctl-mid-epoch"].build(kernel="v7.3")
    claim_only = attrs.evolve(initial, config=attrs.evolve(initial.config, kick_once_per_epoch=True))
    result = explore(claim_only)
    assert result.complete and result.violation is None, result.summary()
    assert (_met(result), result.distinct_states) == (("F11",), 361), result.summary()


def _counted_places(s: State) -> dict[tuple[int, int], list[int]]:
    """Per slot, the ghost places of everything its count holds: skbs on its list, skbs a flush
    detached and has not yet subtracted, attempts counted and not yet pushed."""
    out: dict[tuple[int, int], list[int]] = {}
    for c in s.cpus:
        for node, sl in enumerate(c.defer_slots):
            held = list(sl.defer_list)
            if c.softirq is not None and c.softirq.pc == "reset" and c.softirq.node == node:
                held += c.softirq.batch
            out[(c.id, node)] = [rec.position for i in held if (rec := s.skbs[i].deferred) is not None]
    for _, att in attempts(s):
        if att.pc == "push":
            out[(att.cpu, att.node)].append(att.place if att.place >= 0 else att.count)
    return out


@pytest.mark.parametrize("config", ["straggler", "sysctl-skip", "larger-skbs"])
def test_the_ghost_places_are_where_the_subtracted_count_has_them(config: str) -> None:
    """On v7.3+fixes (fix-F11 with fix-F5: no fallback counts), in every reachable state, the
    places the ghost gives what each slot's count holds are exactly 1 .. defer_count: the flush's
    re-basing of attempts in flight (which waiting_reasons judges) says what the kernel's count
    says. And the re-basing happens: some skb waits at a place its flush moved."""
    initial = SMALL[config].build(kernel="v7.3+fixes")
    seen, queue, moved = {initial}, deque([initial]), 0
    while queue:
        s = queue.popleft()
        places = _counted_places(s)
        for c in s.cpus:
            for node, sl in enumerate(c.defer_slots):
                assert sorted(places[(c.id, node)]) == list(range(1, sl.defer_count + 1)), (c.id, node, s)
        moved += any(skb.deferred is not None and skb.deferred.place >= 0 for skb in s.skbs)
        for _, t in successors(s):
            if t not in seen:
                seen.add(t)
                queue.append(t)
    assert moved > 0


def test_check_fails_when_a_fixed_finding_shows() -> None:
    """``check --kernel K`` fails when a finding K's switches fix is seen: the wedge machine on
    v7.3+fix-F5-increment-below-max passes without F5; the same machine's results on v7.3, which
    show F5, fail once the report is said to be of the fixed kernel."""
    report = checkrun.run_all(profile="ci", machines=["wedge"], kernel="v7.3+fix-F5-increment-below-max",
                              max_examples=30)  # fmt: skip
    assert report.ok and "F5" not in report.findings_seen, report.verdict_line()
    shown = checkrun.run_all(profile="ci", machines=["wedge"], kernel="v7.3", max_examples=30)
    assert "F5" in shown.findings_seen
    claimed = checkrun.Report(shown.profile, shown.machines, shown.findings, "v7.3+fix-F5-increment-below-max")
    assert not claimed.ok and claimed.fixed_but_seen == ["F5"]
    assert claimed.to_json()["fixed_but_seen"] == ["F5"] and "fixes F5" in claimed.verdict_line()


def test_each_fix_costs_what_it_adds() -> None:
    """Expected, on the attack scenario: fix-F5 adds one read of the slot per attempt (close time
    up, atomics unchanged), fix-F7 a preemption toggle per attempt (close time up), fix-F1 one
    locked purge of the (empty) error queue per close (one atomic more per close); fix-F6's
    reordering prices the same atomics, fix-F11's subtraction one atomic per flushed slot; no fix
    changes the IPIs of this scenario."""
    base = cost("v7.3")
    f5, f7 = cost("v7.3+fix-F5-test-before-increment"), cost("v7.3+fix-F7-defer-preempt-off")
    f1, f6 = cost("v7.3+fix-F1-errqueue-closed"), cost("v7.3+fix-F6-detach-before-reset")
    assert base.close_ns_per_skb is not None and base.atomics_per_skb is not None
    assert f5.atomics_per_skb == base.atomics_per_skb and f5.close_ns_per_skb > base.close_ns_per_skb  # type: ignore[operator]
    assert f7.close_ns_per_skb > f5.close_ns_per_skb  # type: ignore[operator]
    assert f1.atomics_per_skb == base.atomics_per_skb + 4 / 160  # 4 closes, 160 unread skbs
    assert f6.atomics_per_skb == base.atomics_per_skb
    assert {c.ipis_per_skb for c in (base, f5, f7, f1, f6)} == {base.ipis_per_skb}
    # fix-F11: the flush's subtraction is an atomic where the reset was a store, once per flushed
    # slot (a whole number of them over the 160 unread skbs); close() itself is unchanged.
    f11 = cost("v7.3+fix-F11-flush-subtracts-detached")
    extra = (f11.atomics_per_skb - f6.atomics_per_skb) * 160  # type: ignore[operator]
    assert extra >= 1 and extra == pytest.approx(round(extra)), extra
    assert f11.ipis_per_skb == base.ipis_per_skb and f11.close_ns_per_skb == base.close_ns_per_skb


def test_scenario_and_metrics_take_a_kernel(tmp_path: Path) -> None:
    done = tcpclose("scenario", "attack", "--skbs", "4", "--sockets", "1", "--kernel", "v7.3+fixes")
    assert done.returncode == 0 and "v7.3+fixes (close-new)" in done.stdout, done.stderr
    done = tcpclose("metrics", "local", "--kernel", "v7.3+fixes", "--json", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for cmd in (("scenario", "--kernel", "v9"), ("metrics", "--kernel", "v9", "--out", str(tmp_path))):
        bad = tcpclose(*cmd)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown kernel 'v9'" in bad.stderr
