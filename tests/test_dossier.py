"""``tcpclose findings`` and docs/findings: each finding's report is computed from the code, the
reports in the repository match it, and the evidence in them can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import properties.dossier as dossier_module
from model.kernels import HISTORY, KERNELS, SWITCHES, Switch
from properties.dossier import DETAILS, dossier, markdown
from properties.findings import FINDINGS
from tests.test_replay import tcpclose

DOCS = Path(__file__).parent.parent / "docs" / "findings"


def test_every_finding_has_details_and_nothing_else() -> None:
    assert set(DETAILS) == set(FINDINGS)


@pytest.mark.parametrize("fid", list(FINDINGS))
def test_the_report_in_docs_matches_the_code(fid: str) -> None:
    # Regenerate with: tcpclose findings --markdown docs/findings
    assert (DOCS / f"{fid}.md").read_text() == markdown(dossier(fid)), f"docs/findings/{fid}.md is stale"


def test_docs_hold_one_report_per_finding() -> None:
    assert sorted(p.stem for p in DOCS.glob("*.md")) == sorted(FINDINGS)


@pytest.mark.parametrize("fid", list(FINDINGS))
def test_each_finding_reproduces_somewhere_and_never_where_a_kernel_claims_its_fix(fid: str) -> None:
    d = dossier(fid)
    assert fid in d.verdict.findings and d.verdict.holds
    assert d.reproduces_on, f"{fid}: no named kernel shows it"
    for k in d.kernels:
        # A kernel before a historical fix may show its own bug (model/kernels.py HISTORY), nothing else.
        bugs = {h.violation_before for h in HISTORY if h.violation_before and h.switch in KERNELS[k.kernel].lacks}
        assert k.unexplained is None or k.unexplained in bugs, (fid, k)
        if fid in KERNELS[k.kernel].fixes:
            assert k.shows is not True, f"{k.kernel} claims to fix {fid} but its trace still shows it"


@pytest.mark.parametrize("fid", [f for f in FINDINGS if any(f in s.fixes for s in SWITCHES.values())])
def test_every_modelled_fix_removes_its_finding_from_the_trace(fid: str) -> None:
    fixes = dossier(fid).fixes
    claimed = [f for f in fixes if f.claimed]
    assert claimed and all(f.clean for f in claimed), fixes


def test_a_candidate_that_does_not_fix_is_reported_with_its_evidence() -> None:
    """Expected: F6's second candidate (reset an empty slot) still shows F6 on its trace and in the
    explorer; F1's purge alone no longer shows the pinned trace's F1, but the explorer still meets
    it (a charge after the purge)."""
    (resets,) = [f for f in dossier("F6").fixes if f.switch == "fix-F6-flush-resets-empty"]
    assert not resets.claimed and not resets.clean and "F6 -> F6" in resets.evidence
    (purge,) = [f for f in dossier("F1").fixes if f.switch == "fix-F1-purge-errqueue"]
    assert not purge.claimed and "F1 -> F1" in purge.evidence


def test_a_fix_that_changes_nothing_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Switch("no-op", "a patch that changes nothing", "nothing", on={}, off={}, fixes=("F2",))
    monkeypatch.setattr(dossier_module, "SWITCHES", {**SWITCHES, "no-op": fake})
    (fix,) = [f for f in dossier("F2").fixes if f.switch == "no-op"]
    assert not fix.clean and fix.verdict == "still shows"


def test_known_kernel_history_shows_in_the_report() -> None:
    # The summed unread test is F4's bug: v6.17 (before 5f9238530970) shows it, v6.18 does not.
    f4 = {k.kernel: k.shows for k in dossier("F4").kernels}
    assert f4["v6.17"] is True and f4["v6.18"] is False
    f9 = {k.kernel: k.shows for k in dossier("F9").kernels}
    assert f9["v6.18"] is True and f9["v6.18.y"] is False


def test_cli_json_and_markdown(tmp_path: Path) -> None:
    done = tcpclose("findings", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [d["id"] for d in data] == list(FINDINGS)
    assert {"promise", "reproduces_on", "trace", "fixes", "live", "kernels"} <= set(data[0])
    done = tcpclose("findings", "F2", "F5", "--markdown", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "F5.md").read_text() == (DOCS / "F5.md").read_text()


def test_cli_one_finding_in_full_and_bad_ids() -> None:
    done = tcpclose("findings", "F2")
    assert done.returncode == 0 and "DeferKick sk0" in done.stdout and "kick_leads_to_flush" in done.stdout
    bad = tcpclose("findings", "F99")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown finding 'F99'" in bad.stderr
