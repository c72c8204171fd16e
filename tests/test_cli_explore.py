"""``tcpclose explore``: the figures, the exit codes, and a shortest counterexample written as a
trace that ``tcpclose replay`` reproduces."""

from __future__ import annotations

import os
from pathlib import Path

from tests.test_replay import tcpclose


def test_explore_completes_on_acceptance_with_findings_skipped() -> None:
    done = tcpclose("explore", "--config", "acceptance", "--skip-findings")
    assert done.returncode == 0, done.stdout + done.stderr
    # 3,402 since issue 13 (2,216 before: the read step of each attempt and socket destruction
    # add states, NET_RX runs over empty slots in one step remove some).
    assert "3,402" in done.stdout and "complete" in done.stdout


def test_explore_writes_the_shortest_counterexample(tmp_path: Path) -> None:
    os.environ["TCPCLOSE_TRACE_DIR"] = str(tmp_path)
    try:
        done = tcpclose("explore", "--config", "acceptance")
    finally:
        os.environ.pop("TCPCLOSE_TRACE_DIR")
    assert done.returncode == 1
    # step 10 since issue 13 (9 before): the producer's reads before the increment are a step
    assert "dead_cpu_slots_emptied fails at quiescence after step 10" in done.stdout
    (written,) = tmp_path.iterdir()
    replayed = tcpclose("replay", str(written), "--json")
    assert replayed.returncode == 1 and '"step": 10' in replayed.stdout


def test_explore_budget_and_bad_input() -> None:
    assert tcpclose("explore", "--config", "acceptance", "--skip-findings", "--max-states", "50").returncode == 2
    bad = tcpclose("explore", "--cpus", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("tcpclose: ") and len(bad.stderr.splitlines()) == 1
    assert tcpclose("explore", "--skip", "no_such_invariant").returncode == 2
