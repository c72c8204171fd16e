"""The regression corpus (``tests/counterexamples/``): what a pinned trace must do, checking it
(``tcpclose replay --expect``, and pytest for every file in the corpus), and pinning a new one
(``tcpclose pin``).

A trace records two verdicts (properties/traces.py): ``violation``, what the run showed when it
was recorded, and ``expect_on_spec``, what the unmodified spec did or should do with it. A verdict
names the failure no known finding explains (if any) and the known findings the run showed. What
a pinned trace must do is decided in one place, ``expectation()``:

- under the trace's mutant, if it names one: the recorded ``violation`` (the mutant must still be
  caught where it was), and on the unmodified spec what ``expect_on_spec`` records;
- without a mutant, a recorded failure that no known finding explains is a bug of the spec (what
  the faithful kernel does is a finding, recognised by its signature): the pinned trace must
  pass, so it is pinned once the bug is fixed, and fails again if the bug comes back;
- without a mutant and without such a failure, the known findings recorded must still show (a
  finding must keep reproducing, at the step recorded).

The lead's findings work may add cases here (a finding fixed by a kernel switch, say); the CLI's
``pin`` and ``replay --expect`` and the corpus test all ask this one function.
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
    if t.mutant is not None:
        return Expectation(on_spec=t.expect_on_spec, under_mutant=t.violation)
    recorded = t.expect_on_spec
    if recorded is not None and not recorded.holds:  # a bug of the spec: pinned, it must pass
        return Expectation(on_spec=None, under_mutant=None)
    return Expectation(on_spec=recorded, under_mutant=None)


def describe(v: Verdict | None) -> str:
    if v is None or (v.holds and not v.findings):
        return "every invariant holds"
    where = "at quiescence after" if v.quiescent else "at"
    shown = f" (known findings {', '.join(v.findings)} show)" if v.findings else ""
    if v.holds:
        return f"only known findings {', '.join(v.findings)} show"
    return f"{v.invariant} fails {where} step {v.step}{shown}"


def _outcome(v: Verdict | None) -> tuple[str | None, int | None, tuple[str, ...]]:
    """What a verdict says: the unexplained failure and its step, and the known findings shown."""
    if v is None:
        return (None, None, ())
    return (v.invariant, v.step if v.invariant else None, tuple(v.findings))


def _same(expected: Verdict | None, got: Verdict) -> bool:
    if expected is None:  # a fixed bug: no failure that no known finding explains
        return got.holds
    return _outcome(got) == _outcome(expected)


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
        problems.insert(0, "the trace records no violation and no finding: there is nothing to pin")
    exp = expectation(t)
    if problems:
        if exp.on_spec is None and t.mutant is None:
            problems.append(
                "a bug found on the spec is pinned once it is fixed (the pinned trace must pass now); if the "
                "faithful kernel really does this, it is a finding: give it a signature in properties/findings.py"
            )
        return None, problems
    t = attrs.evolve(t, expect_on_spec=exp.on_spec)  # the file says what the spec must do from now on
    body = json.dumps(encode(t), sort_keys=True)
    what = (t.violation.invariant or "-".join(t.violation.findings)) if t.violation else "run"
    stem = f"{t.found_by.replace(' ', '-')}-{what}"
    path = into / f"{stem}-{hashlib.sha256(body.encode()).hexdigest()[:10]}.json"
    if path.exists():
        return None, [f"{path} is already in the corpus"]
    return write(t, path), []
