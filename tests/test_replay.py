"""Trace files: the regression corpus replays as recorded, replay is stable across processes,
one timeline is pinned, and every kind of bad input gets one line and exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from properties import corpus, traces

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "counterexamples").glob("*.json"))
ROOT = HERE.parent


def tcpclose(*args: str, hashseed: str = "0", columns: str = "160") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hashseed, "COLUMNS": columns, "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "tcpclose", *args], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )


# -- the corpus ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_trace_replays_as_recorded(path: Path) -> None:
    """Expected: what the file records (properties/corpus.py): the spec's verdict is its
    expect_on_spec, and its mutant, if any, still shows the recorded violation."""
    trace = traces.load(path)
    assert trace.violation is not None, "a corpus trace records the violation or findings it was found with"
    assert corpus.mismatches(trace) == []


def test_corpus_has_three_mutants_and_every_finding() -> None:
    from properties.findings import FINDINGS

    names = {p.stem for p in CORPUS}
    assert len({n for n in names if n.startswith("mutant-")}) >= 3
    assert {f"finding-{fid}" for fid in FINDINGS} <= names


@pytest.mark.parametrize("path", [p for p in CORPUS if p.stem.startswith("mutant-")][:3], ids=lambda p: p.stem)
def test_replay_is_the_same_in_another_process(path: Path) -> None:
    """Expected: the recorded violation at the recorded step, whatever PYTHONHASHSEED is."""
    recorded = json.loads(path.read_text())["violation"]
    outputs = []
    for seed in ("1", "4242"):
        done = tcpclose("replay", str(path), "--json", hashseed=seed)
        assert done.returncode == 1, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    got = outputs[0]["violation"]
    assert (got["invariant"], got["step"]) == (recorded["invariant"], recorded["step"])


def test_golden_timeline() -> None:
    done = tcpclose("replay", "tests/counterexamples/finding-F2.json")
    assert done.returncode == 0  # only known findings show
    assert done.stdout == (HERE / "golden" / "replay-finding-F2.txt").read_text()


def test_replay_without_mutant_passes() -> None:
    done = tcpclose("replay", "tests/counterexamples/mutant-clear_after_push.json", "--without-mutant")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "holds" in done.stdout


# -- the command line ----------------------------------------------------------------------------
# Bad input (malformed traces, impossible parameters, ...) is in tests/test_bad_input.py.


def test_check_runs_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path / "traces"))
    out = tmp_path / "out.json"
    done = tcpclose("check", "--profile", "ci", "--machine", "close", "--json", str(out), columns="200")
    # Expected (the ci profile is derandomized): every invariant holds, every required event of
    # the close machine is reached, every finding still reproduces.
    assert done.returncode == 0, done.stdout
    assert "rmem_matches_charged" in done.stdout and "VIOLATED" not in done.stdout
    assert "known findings" in done.stdout and "NO: the spec changed" not in done.stdout
    from properties.invariants import REGISTRY

    assert done.stdout.splitlines()[-1].startswith(f"all {len(REGISTRY)} invariants hold; known findings seen:")
    assert not (tmp_path / "traces").exists()  # nothing failed, so no trace was written
    report = json.loads(out.read_text())
    assert report["verdict"] == "pass" and report["violations"] == []

    assert [r["name"] for r in report["invariants"]] == list(REGISTRY)
    assert all(r["checked_steps"] > 0 and r["checked_examples"] > 0 for r in report["invariants"])


def test_check_writes_a_trace_for_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Expected: with a planted bug (reclaim at > PAGE_SIZE), check's machinery reports the
    violation and writes a trace that replays to it; the unmodified spec passes that trace."""
    from properties import checkrun
    from properties.mutants import MUTANTS

    mutant = MUTANTS["reclaim_strict"]
    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path))
    with mutant.applied():
        report = checkrun.run_all(profile="ci", machines=["close"])
    (result,) = report.machines
    assert not report.ok and result.violation is not None and result.trace_file is not None
    assert report.verdict_line().startswith("FAILED: forward_alloc_bound at step")
    as_json = json.loads(json.dumps(report.to_json()))
    assert as_json["verdict"] == "fail" and as_json["violations"][0]["trace"] == result.trace_file
    written = traces.load(Path(result.trace_file))
    assert written.violation is not None and written.violation.invariant == "forward_alloc_bound"
    with mutant.applied():
        assert traces.replay(written).invariant == "forward_alloc_bound"
    assert traces.replay(written).holds


def test_a_trace_carries_its_kernel(tmp_path: Path) -> None:
    """A run asked for a named kernel records it; reading it back checks the configuration holds
    that kernel's switches, and every trace lists the named kernels its configuration matches."""
    data = json.loads((HERE / "counterexamples" / "finding-F2.json").read_text())
    trace = traces.decode({**data, "kernel": "v6.18"})
    assert trace.kernel == "v6.18"
    encoded = traces.encode(trace)
    assert encoded["kernel"] == "v6.18" and "v6.18" in encoded["matches_kernels"]
    with pytest.raises(traces.TraceError, match=r"does not hold the switches of kernel v6\.17"):
        traces.decode({**data, "kernel": "v6.17"})
    with pytest.raises(traces.TraceError, match="unknown kernel 'v9'"):
        traces.decode({**data, "kernel": "v9"})
    path = tmp_path / "k.json"
    path.write_text(json.dumps({**data, "kernel": "v6.18"}))
    done = tcpclose("replay", str(path))
    assert done.stdout.startswith("the configuration of: kernel v6.18")
