"""CrossHair proves the contracts of spec/rules.py, and catches an off-by-one planted in a rule.

``crosshair check`` runs in a subprocess over the PEP 316 docstring contracts (``pre:``/``post:``)
of the pure arithmetic rules. Every rule there is small enough for CrossHair to exhaust its paths,
so the first test asks for more than "no counterexample found": every postcondition must be
reported "Confirmed over all paths", which does not depend on a time budget or a seed.

The planted rules are copies of spec/rules.py (a standalone module: it imports nothing of ours)
with one comparison or bound moved by one, each the kind of slip a reader of the C would make;
all of them are checked in one CrossHair run, and each must be reported against its own rule.

Time: each condition gets ``PER_CONDITION`` CPU seconds at most and each run ``RUN_TIMEOUT``
wall-clock seconds; in practice both runs take about 2 s each.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[1] / "spec" / "rules.py"
PER_CONDITION = 5.0  # CPU seconds per condition (every condition here is exhausted in well under 1 s)
RUN_TIMEOUT = 50.0  # wall-clock seconds per crosshair run: two runs stay under two minutes
_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<level>error|info): (?P<message>.*)$")


def crosshair_check(*targets: Path, cwd: Path) -> tuple[int, list[tuple[str, int, str, str]]]:
    """Run ``crosshair check`` on ``targets``: its exit code and its (file, line, level, message)
    reports. The options make it deterministic and bounded: PEP 316 contracts only, every
    condition until its paths are exhausted or its timeout."""
    cmd = [
        sys.executable,
        "-m",
        "crosshair",
        "check",
        "--analysis_kind=PEP316",
        f"--per_condition_timeout={PER_CONDITION}",
        "--report_all",
        *map(str, targets),
    ]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    reports = []
    for line in done.stdout.splitlines():
        m = _LINE.match(line)
        assert m, f"unexpected crosshair output: {line!r}\n{done.stderr}"
        reports.append((Path(m["file"]).name, int(m["line"]), m["level"], m["message"]))
    assert done.returncode in (0, 1), f"crosshair failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.returncode, reports


def postcondition_lines(source: str) -> set[int]:
    return {i for i, line in enumerate(source.splitlines(), 1) if line.strip().startswith("post:")}


def test_every_rule_contract_is_confirmed_over_all_paths() -> None:
    code, reports = crosshair_check(RULES, cwd=RULES.parents[1])
    errors = [r for r in reports if r[2] == "error"]
    assert code == 0 and not errors, f"counterexamples to spec/rules.py contracts: {errors}"
    confirmed = {line for _, line, level, msg in reports if level == "info" and msg == "Confirmed over all paths."}
    expected = postcondition_lines(RULES.read_text())
    assert len(expected) >= 14  # the contracts the issue asks for are there
    assert confirmed == expected, (
        f"postconditions not confirmed over all paths (lines): {sorted(expected - confirmed)}; reports: {reports}"
    )


# rule -> (text in the rule's body, the off-by-one replacement)
PLANTS: dict[str, tuple[str, str]] = {
    "defer_fallback": ("return count >= defer_max", "return count > defer_max"),
    "defer_kick": ("return count - 1 == defer_max >> 1", "return count == defer_max >> 1"),
    "defer_v2_kick": ("return count_before == defer_max >> 1", "return count_before + 1 == defer_max >> 1"),
    "after": (">= S32_SIGN", "> S32_SIGN"),
    "unread_by_end_seq": ("after((end_seq - int(fin)) & U32_MASK, copied_seq)", "after(end_seq, copied_seq)"),
    "reclaim_pages": ("if reclaimable >= page_size:", "if reclaimable > page_size:"),
    "schedule_pages": ("(delta + page_size - 1) // page_size", "delta // page_size"),
    "pcpu_drains": ("per_cpu_fw_alloc >= mem_pcpu_rsv or", "per_cpu_fw_alloc > mem_pcpu_rsv or"),
}


def plant(source: str, rule: str, old: str, new: str) -> tuple[str, range]:
    """``source`` with ``old`` replaced by ``new`` once, inside the body of ``rule``; and the lines
    of that rule."""
    lines = source.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"def {rule}("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("def ")), len(lines))
    body = "".join(lines[start:end])
    assert body.count(old) == 1, f"{rule}: expected {old!r} once in its body"
    return "".join(lines[:start]) + body.replace(old, new) + "".join(lines[end:]), range(start + 1, end + 1)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[range, list[tuple[int, str]]]]:
    """One crosshair run over one planted copy of spec/rules.py per rule: rule -> (the rule's lines,
    the errors reported in that copy)."""
    workdir = tmp_path_factory.mktemp("planted")
    source = RULES.read_text()
    spans: dict[str, range] = {}
    for rule, (old, new) in PLANTS.items():
        text, spans[rule] = plant(source, rule, old, new)
        (workdir / f"planted_{rule}.py").write_text(text)
    code, reports = crosshair_check(*(workdir / f"planted_{rule}.py" for rule in PLANTS), cwd=workdir)
    assert code == 1
    return {
        rule: (
            spans[rule],
            [(line, msg) for f, line, level, msg in reports if f == f"planted_{rule}.py" and level == "error"],
        )
        for rule in PLANTS
    }


@pytest.mark.parametrize("rule", sorted(PLANTS))
def test_planted_off_by_one_is_caught(rule: str, planted: dict[str, tuple[range, list[tuple[int, str]]]]) -> None:
    span, errors = planted[rule]
    assert errors, f"crosshair found no counterexample to the planted {rule}"
    assert all(line in span for line, _ in errors), f"{rule}: errors outside the planted rule: {errors}"
    assert any(f"when calling {rule}(" in msg for _, msg in errors), errors
