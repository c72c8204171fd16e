"""The regression corpus (``tests/counterexamples/``): what a pinned trace must do, checking it
(``tcpclose replay --expect``, and pytest for every file in the corpus), and pinning a new one
(``tcpclose pin``).

A trace records two things (properties/traces.py): ``violation``, what the run showed when it was
recorded (history), and ``expect_on_spec``, what the unmodified spec should do with it (None:
hold). What a pinned trace must do is decided in one place, ``expectation()``:

- on the unmodified spec, what ``expect_on_spec`` says: a bug found by ``check`` or ``explore``
  is recorded as "should hold", so its trace passes once the spec is fixed and fails while the
  bug is there; a finding (the faithful kernel breaking a promise) records its violation, which
  must keep reproducing;
- under the trace's mutant, if it names one, the recorded ``violation``: the mutant must still
  be caught where it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs

from properties.checker import Verdict
from properties.traces import Trace, TraceError, encode, replay, write

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "counterexamples"


@attrs.frozen
class Expectation:
    """``on_spec``: the verdict the unmodified spec must give (None: holds); ``under_mutant``:
    the violation the trace's mutant must still show (None when the trace names no mutant)."""

    on_spec: Verdict | None
    under_mutant: Verdict | None


def expectation(t: Trace) -> Expectation:
    """What a pinned trace must do, from what its file records (see the module docstring)."""
    return Expectation(on_spec=t.expect_on_spec, under_mutant=t.violation if t.mutant else None)


def describe(v: Verdict | None) -> str:
    if v is None or v.holds:
        return "every invariant holds"
    where = "at quiescence after" if v.quiescent else "at"
    return f"{v.invariant} fails {where} step {v.step}"


def _same(expected: Verdict | None, got: Verdict) -> bool:
    if expected is None or expected.holds:
        return got.holds
    return (got.invariant, got.step) == (expected.invariant, expected.step)


def mismatches(t: Trace) -> list[str]:
    """One line per way the trace no longer behaves as its expectation says (empty: it does).
    An action no longer enabled where the trace applies it is a mismatch too."""
    exp = expectation(t)
    out: list[str] = []
    checks: list[tuple[str, bool, Verdict | None]] = [("on the unmodified spec", False, exp.on_spec)]
    if t.mutant is not None:
        checks.append((f"under mutant {t.mutant}", True, exp.under_mutant))
    for label, with_mutant, expected in checks:
        try:
            got = replay(t, with_mutant=with_mutant)
        except TraceError as err:
            out.append(f"{label}: expected {describe(expected)}, but {err}")
            continue
        if not _same(expected, got):
            out.append(f"{label}: expected {describe(expected)}, got {describe(got)}")
    return out


def pin(t: Trace, into: Path = CORPUS) -> tuple[Path | None, list[str]]:
    """Write ``t`` into the corpus if it behaves now as its expectation says; else write nothing
    and return the reasons. An existing file of the same name is never overwritten."""
    problems = mismatches(t)
    if t.violation is None:
        problems.insert(0, "the trace records no violation: there is nothing to pin")
    if problems:
        exp = expectation(t)
        if exp.on_spec is None and t.mutant is None and t.violation is not None:
            problems.append(
                "a bug found on the spec is pinned once it is fixed (the pinned trace must pass now); "
                "if the kernel really does this, it is a finding: set the trace's expect_on_spec to its violation"
            )
        return None, problems
    body = json.dumps(encode(t), sort_keys=True)
    stem = f"{t.found_by.replace(' ', '-')}-{t.violation.invariant if t.violation else 'run'}"
    path = into / f"{stem}-{hashlib.sha256(body.encode()).hexdigest()[:10]}.json"
    if path.exists():
        return None, [f"{path} is already in the corpus"]
    return write(t, path), []
