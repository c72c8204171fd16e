"""``tcpclose explore``: the figures, the exit codes, and a shortest counterexample written as a
trace that ``tcpclose replay`` reproduces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_replay import tcpclose


def test_explore_completes_on_acceptance_with_findings_skipped() -> None:
    done = tcpclose("explore", "--config", "acceptance", "--skip-findings")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2,216" in done.stdout and "complete" in done.stdout  # pinned in tests/test_explorer.py too


def test_explore_writes_the_shortest_counterexample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path))
    done = tcpclose("explore", "--config", "acceptance")
    assert done.returncode == 1
    assert "dead_cpu_slots_emptied fails at quiescence after step 9" in done.stdout
    (written,) = tmp_path.iterdir()
    replayed = tcpclose("replay", str(written), "--json")
    assert replayed.returncode == 1 and '"step": 9' in replayed.stdout


def test_explore_budget_and_bad_input() -> None:
    assert tcpclose("explore", "--config", "acceptance", "--skip-findings", "--max-states", "50").returncode == 2
    bad = tcpclose("explore", "--cpus", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("tcpclose: ") and len(bad.stderr.splitlines()) == 1
    assert tcpclose("explore", "--skip", "no_such_invariant").returncode == 2
