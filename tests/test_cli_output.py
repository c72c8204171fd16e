"""What the command line prints and writes: tables that never cut a name outside a terminal,
JUnit XML, help on every option, one meaning per option name, replay in kernel words,
``replay --expect`` and ``pin``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import attrs
import click
import pytest

from properties import corpus, invariants, traces
from properties.checker import check_run
from properties.mutants import MUTANTS
from tcpclose.cli import main
from tests.test_replay import tcpclose

HERE = Path(__file__).parent
COUNTEREXAMPLES = HERE / "counterexamples"


# -- tables and JUnit ----------------------------------------------------------------------------


def test_check_through_a_pipe_shows_every_invariant_name_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Expected: ``tcpclose check | cat`` (stdout not a terminal, COLUMNS=80 as in many CI
    logs) prints every invariant's name whole, no cell cut with an ellipsis; --junit writes a
    JUnit file with one test case per invariant, none failing."""
    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path / "traces"))
    done = tcpclose("check", "--max-examples", "5", "--machine", "close", "--junit", str(tmp_path / "r.xml"),
                    columns="80")  # fmt: skip
    assert done.returncode in (0, 1), done.stderr  # 5 examples may miss a required event: that is not the point
    words = set(re.findall(r"\w+", done.stdout))
    missing = [name for name in invariants.REGISTRY if name not in words]
    assert missing == [], missing
    assert "…" not in done.stdout
    root = ET.parse(tmp_path / "r.xml").getroot()
    suites = {s.get("name"): s for s in root}
    cases = [c.get("name") for c in suites["invariants"]]
    assert cases == list(invariants.REGISTRY)
    assert suites["invariants"].get("failures") == "0"
    assert [c.get("name") for c in suites["coverage"]] == ["close"]


# -- options -------------------------------------------------------------------------------------


def _options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_option_has_help(name: str) -> None:
    cmd = main.commands[name]
    bare = [p.opts[0] for p in _options(cmd) if not p.hidden and not (p.help or "").strip()]
    assert bare == [], f"{name}: {bare}"


def test_one_meaning_per_option_name() -> None:
    """Expected: --profile is check's Hypothesis profile only (metrics has --costs), --machine a
    state machine only, in check and fuzz alike (scenario has --layout); the old names are refused
    with a line naming the new option (tests/test_bad_input.py)."""
    owners: dict[str, list[str]] = {}
    for name, cmd in main.commands.items():
        for p in _options(cmd):
            if not p.hidden:
                for opt in p.opts:
                    owners.setdefault(opt, []).append(name)
    assert owners["--profile"] == ["check"]
    assert sorted(owners["--machine"]) == ["check", "fuzz"]
    assert owners["--costs"] == ["metrics"] and owners["--layout"] == ["scenario"]


def test_config_help_lists_its_names() -> None:
    from model.small import SMALL

    done = tcpclose("explore", "--help", columns="200")
    assert done.returncode == 0
    for name in SMALL:
        assert name in done.stdout


def test_check_help_lists_every_state_machine() -> None:
    from properties.machines import MACHINES

    done = tcpclose("check", "--help", columns="200")
    assert all(name in done.stdout for name in MACHINES), done.stdout


def test_help_texts() -> None:
    top = tcpclose("--help")
    assert top.returncode == 0 and "pin" in top.stdout and "130 interrupted" in top.stdout
    wanted = {"check": "--junit", "replay": "--expect", "scenario": "--close-cpu", "metrics": "--costs"}
    for cmd, words in wanted.items():
        done = tcpclose(cmd, "--help")
        assert done.returncode == 0 and words in done.stdout, done.stdout


def test_scenario_closes_on_the_cpu_given() -> None:
    done = tcpclose("scenario", "attack", "--sockets", "1", "--skbs", "2", "--close-cpu", "0")
    assert done.returncode == 0, done.stderr
    assert "closed on CPU 0" in done.stdout
    assert "CPU 1" not in done.stdout  # built and closed on CPU 0: every free is CPU 0's


# -- replay in kernel words ----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(COUNTEREXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_replay_speaks_kernel_words(path: Path) -> None:
    """Expected: no Python reprs (tuples, True/False, lists in brackets), one name for a slot
    (``slot(cpuN,nodeM)``), and only fields that changed (no ``a→a``)."""
    for args in ((), ("--json",)):
        done = tcpclose("replay", str(path), *args)
        assert done.returncode in (0, 1), done.stderr
        text = done.stdout
        assert "('" not in text and "True" not in text and "False" not in text, text
        assert "slot[" not in text and ".slot" not in text
        assert not re.search(r"\[\d", text), "a Python list of skbs"
        for before, after in re.findall(r" (\S+)→(\S+)", text):
            assert before != after, (before, after)


def test_replay_shows_the_lost_ipi() -> None:
    """Expected (finding F2): the kick at step 16 (14 before issue 13 gave each attempt its read
    step) targets cpu0 while it is offline; the timeline says the IPI is lost (-ENXIO) where it
    happens."""
    done = tcpclose("replay", str(COUNTEREXAMPLES / "finding-F2.json"), "--json")
    rows = json.loads(done.stdout)["rows"]
    lost = [r["step"] for r in rows if any("lost" in c and "-ENXIO" in c for c in r["changes"])]
    assert lost == [16]


# -- replay --expect and pin ---------------------------------------------------------------------


def test_replay_expect_passes_on_the_corpus_and_fails_on_a_changed_expectation(tmp_path: Path) -> None:
    done = tcpclose("replay", "--expect", str(COUNTEREXAMPLES / "finding-F1.json"))
    assert done.returncode == 0 and "behaves as recorded" in done.stdout, done.stdout + done.stderr
    data = json.loads((COUNTEREXAMPLES / "finding-F1.json").read_text())
    data["expect_on_spec"]["findings"] = ["F2"]  # claims another finding shows: it does not
    (tmp_path / "t.json").write_text(json.dumps(data))
    done = tcpclose("replay", "--expect", str(tmp_path / "t.json"))
    assert done.returncode == 1
    assert "expected only known findings F2 show, got only known findings F1 show" in done.stdout


def _bug_trace() -> traces.Trace:
    """A bug as ``check`` records it: found on the spec (here the spec with reclaim_strict
    applied stands for a spec with a bug), expected to hold on the unmodified spec."""
    recorded = traces.load(COUNTEREXAMPLES / "mutant-clear_after_push.json")
    mutant = MUTANTS[recorded.mutant or ""]
    with mutant.applied():
        seen = check_run(recorded.initial, recorded.actions)
    assert not seen.holds
    return attrs.evolve(recorded, mutant=None, found_by="check race", violation=seen, expect_on_spec=None)


def test_pin_a_fixed_bug_passes_now(tmp_path: Path) -> None:
    """Expected: the spec no longer has the bug (the mutant is not applied), so the pinned
    trace passes now, and the corpus test would accept it."""
    bug = _bug_trace()
    path, problems = corpus.pin(bug, tmp_path)
    assert problems == [] and path is not None and path.parent == tmp_path
    assert corpus.mismatches(traces.load(path)) == []


def test_pin_refuses_a_bug_not_yet_fixed(tmp_path: Path) -> None:
    """Expected: while the spec still has the bug, pinning it would give a test that fails:
    refused, with the reason, and nothing written."""
    bug = _bug_trace()
    recorded = traces.load(COUNTEREXAMPLES / "mutant-clear_after_push.json")
    with MUTANTS[recorded.mutant or ""].applied():
        path, problems = corpus.pin(bug, tmp_path)
    assert path is None and list(tmp_path.iterdir()) == []
    assert any("pinned once it is fixed" in p for p in problems)


def test_pin_a_finding_must_still_reproduce(tmp_path: Path) -> None:
    """Expected: a finding (expect_on_spec records its violation) is pinned while it
    reproduces; claimed as another finding, it does not reproduce, and is refused."""
    (tmp_path / "corpus").mkdir()
    done = tcpclose("pin", str(COUNTEREXAMPLES / "finding-F1.json"), "--into", str(tmp_path / "corpus"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pinned as" in done.stdout and "only known findings F1 show" in done.stdout
    data = json.loads((COUNTEREXAMPLES / "finding-F1.json").read_text())
    data["expect_on_spec"]["findings"] = ["F2"]
    (tmp_path / "moved.json").write_text(json.dumps(data))
    (tmp_path / "other").mkdir()
    done = tcpclose("pin", str(tmp_path / "moved.json"), "--into", str(tmp_path / "other"))
    assert done.returncode == 1 and "not pinned" in done.stdout
    assert list((tmp_path / "other").iterdir()) == []


def test_pin_a_mutant_trace_and_refuse_a_duplicate(tmp_path: Path) -> None:
    source = COUNTEREXAMPLES / "mutant-fallback_strict.json"
    first = tcpclose("pin", str(source), "--into", str(tmp_path))
    assert first.returncode == 0 and "under mutant fallback_strict" in first.stdout, first.stdout + first.stderr
    again = tcpclose("pin", str(source), "--into", str(tmp_path))
    assert again.returncode == 1 and "already in the corpus" in again.stdout
    assert len(list(tmp_path.iterdir())) == 1


def test_pin_default_folder_is_the_corpus_pytest_replays() -> None:
    assert COUNTEREXAMPLES.resolve() == corpus.CORPUS
