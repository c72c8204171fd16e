"""``tcpclose spec-diff``: a behavioural edit is reported with a witness, a pure refactor is not.

Each test builds a throwaway git repository from a copy of the project (spec, model, properties,
tcpclose and the regression corpus), commits it, edits the working tree and compares it with
HEAD through ``properties.specdiff``, the module behind the command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from properties import specdiff
from spec import rules

PROJECT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0  # crosshair CPU seconds per function pair (each pair here is exhausted in about 1 s)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")
    for part in ("spec", "model", "properties", "tcpclose", "tests/counterexamples"):
        shutil.copytree(PROJECT / part, root / part, ignore=ignore)
    git(root, "init", "--quiet")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "base")
    return root


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) == count, f"{path.name}: expected {old!r} {count} time(s)"
    path.write_text(text.replace(old, new))


def inputs(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", text)}


def test_a_behavioural_edit_of_the_fallback_rule_is_reported_with_a_witness(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(
        repo / "spec" / "rules.py",
        '    post: __return__ == (count >= defer_max)\n    """\n    return count >= defer_max\n\n\ndef defer_kick',
        '    post: __return__ == (count >= defer_max)\n    """\n    return count > defer_max\n\n\ndef defer_kick',
    )
    report = specdiff.spec_diff(repo=repo, timeout=TIMEOUT)
    text = specdiff.render(report)
    assert report.changed, text
    changed = [f for f in report.functions if f.differs]
    assert [(f.module, f.name) for f in changed] == [("spec.rules", "defer_fallback")], text
    for w in changed[0].witnesses:  # each witness is an input where the old and the new rule disagree
        args = inputs(w.inputs)
        assert args["count"] >= 1 and args["defer_max"] >= 0  # inside the precondition
        assert rules.defer_fallback(**args) and not args["count"] > args["defer_max"]
        assert (w.old, w.new) == ("returns True", "returns False")
    assert "given count=" in text and "old returns True; new returns False" in text
    # The replay sees it too: the trace of the fallback mutant now pushes where the spec fell back.
    diverging = {t.name: t for t in report.traces if t.step is not None}
    assert "mutant-fallback_strict.json" in diverging, text
    assert all(e.new is not None for e in report.explored)
    # The command's exit status; the old tree's worktree is gone.
    assert specdiff.main("HEAD", repo, TIMEOUT) == 1
    assert "behaviour changed" in capsys.readouterr().out
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_pure_refactor_is_no_difference(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules_py, receive_py = repo / "spec" / "rules.py", repo / "spec" / "receive.py"
    # A local renamed and the order of two independent tests swapped.
    edit(rules_py, "delta", "shortfall", count=3)
    edit(
        rules_py,
        "return per_cpu_fw_alloc >= mem_pcpu_rsv or per_cpu_fw_alloc <= -mem_pcpu_rsv",
        "return per_cpu_fw_alloc <= -mem_pcpu_rsv or per_cpu_fw_alloc >= mem_pcpu_rsv",
    )
    # An equivalent expression: unread_by_end_seq, which calls after(), is affected.
    edit(rules_py, "return ((seq2 - seq1) & U32_MASK) >= S32_SIGN", "return (seq2 - seq1) % U32 >= S32_SIGN")
    # A function renamed, with its callers.
    edit(rules_py, "payload_len(", "data_len(", count=2)
    edit(receive_py, "rules.payload_len(", "rules.data_len(")
    # Formatting and comments only.
    edit(
        rules_py,
        "    return count >= defer_max\n\n\ndef defer_kick",
        "    return (count >= defer_max)  # c >= max\n\n\ndef defer_kick",
    )
    report = specdiff.spec_diff(repo=repo, timeout=TIMEOUT)
    text = specdiff.render(report)
    assert not report.changed, text
    by_name = {(f.module, f.name): f for f in report.functions}
    assert "spec.rules.defer_fallback" not in text  # reformatting is no change at all
    for name in ("schedule_pages", "pcpu_drains", "unread_len_sum", "after", "unread_by_end_seq"):
        f = by_name["spec.rules", name]
        assert f.compared and f.note.startswith("no difference found in"), text
    renamed = by_name["spec.rules", "data_len"]
    assert (renamed.kind, renamed.old_name, renamed.compared) == ("renamed", "payload_len", True), text
    assert by_name["spec.rules", "unread_len_sum"].kind == "changed"  # it calls the renamed function
    assert by_name["spec.rules", "unread_by_end_seq"].kind == "affected"  # its code is the same
    assert "compared by trace replay" in by_name["spec.receive", "apply_recv_copy"].note
    assert all(t.step is None for t in report.traces) and len(report.traces) >= 7
    assert all(e.same for e in report.explored)
    assert specdiff.main("HEAD", repo, TIMEOUT) == 0
    assert capsys.readouterr().out.rstrip().endswith("no behavioural difference found")


def test_an_unknown_revision_is_one_line_and_exit_2(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert specdiff.main("no-such-rev", repo) == 2
    assert capsys.readouterr().err == "tcpclose: unknown revision no-such-rev\n"
    assert specdiff.main("--all", repo) == 2
    assert capsys.readouterr().err == "tcpclose: unknown revision --all\n"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert specdiff.main("HEAD", plain) == 2
    assert capsys.readouterr().err.startswith("tcpclose: not a git repository")


def test_an_unchanged_tree_has_no_difference(repo: Path) -> None:
    report = specdiff.spec_diff(repo=repo, timeout=TIMEOUT)
    assert not report.functions and not report.changed
    assert "no function of spec/ changed" in specdiff.render(report)
