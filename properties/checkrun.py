"""``tcpclose check``: run every state machine under a profile and report, invariant by
invariant, what was checked, how much, what was reached, which known findings showed, and what
failed (with its trace file); then one verdict line, and the same as JSON on request.
The same machines the test suite runs; nothing here checks anything on its own."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable

import attrs
from hypothesis import seed as hypothesis_seed
from hypothesis import settings
from hypothesis.stateful import get_state_machine_test
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from model import kernels
from properties import coverage, invariants, machines, profiles, traces
from properties.checker import check_run
from properties.coverage import fixed_by, unreachable_on
from properties.findings import FINDINGS
from properties.machines import InvariantViolation
from spec import ALL_ACTIONS


@attrs.frozen
class MachineResult:
    name: str
    examples: int
    steps: int
    quiescent_checks: int  # how many times the liveness invariants were checked (at each settle)
    seen: dict[str, int]
    missing: tuple[str, ...]  # required coverage events never reached
    violation: InvariantViolation | None
    trace_file: str | None
    actions_taken: frozenset[str] = frozenset()

    @property
    def findings_seen(self) -> list[str]:
        return sorted(e.removeprefix("known ") for e in self.seen if e.startswith("known "))

    def checked(self, inv: invariants.Invariant) -> tuple[int, int]:
        """(examples, checks) of ``inv`` in this machine: every example; every step for state and
        transition invariants, every settle for liveness ones."""
        return self.examples, self.quiescent_checks if inv.kind == "quiescent" else self.steps


@attrs.frozen
class Report:
    profile: str
    machines: tuple[MachineResult, ...]
    findings: tuple[tuple[str, str, bool], ...]  # (id, invariant, its pinned trace still shows it)
    kernel: str | None = None  # the named kernel every machine drew (model/kernels.py), or all variants

    @property
    def ok(self) -> bool:
        return (
            all(m.violation is None and not m.missing for m in self.machines)
            and all(ok for _, _, ok in self.findings)
            and not self.actions_never_taken
            and not self.fixed_but_seen
        )

    @property
    def fixed_but_seen(self) -> list[str]:
        """Known findings seen although the kernel's switches fix them (a fix that does not hold)."""
        fixed = fixed_by(self.kernel)
        return [f for f in self.findings_seen if f in fixed]

    @property
    def actions_never_taken(self) -> list[str]:
        """Action kinds no machine took (only when every machine ran: one alone need not take all)."""
        if {m.name for m in self.machines} != set(machines.MACHINES):
            return []
        taken = set().union(*(m.actions_taken for m in self.machines))
        return sorted({a.__name__ for a in ALL_ACTIONS} - taken - unreachable_on(self.kernel))

    @property
    def findings_seen(self) -> list[str]:
        return sorted({f for m in self.machines for f in m.findings_seen})

    def verdict_line(self) -> str:
        """One line: what holds and which known findings showed, or the first failure."""
        for m in self.machines:
            if m.violation is not None:
                v, at = m.violation, len(m.violation.actions)
                return f"FAILED: {v.invariant} at step {at} ({m.name} machine): {v.message}; trace {m.trace_file}"
        for m in self.machines:
            if m.missing:
                return f"FAILED: the {m.name} machine never reached {', '.join(m.missing)} (green by vacuity)"
        if self.actions_never_taken:
            return f"FAILED: no machine took {', '.join(self.actions_never_taken)} (green by vacuity)"
        if self.fixed_but_seen:
            return f"FAILED: kernel {self.kernel} fixes {', '.join(self.fixed_but_seen)}, seen all the same"
        for fid, inv, ok in self.findings:
            if not ok:
                return f"FAILED: known finding {fid} ({inv}) no longer reproduces from its pinned trace"
        seen = ", ".join(self.findings_seen) or "none"
        return f"all {len(invariants.REGISTRY)} invariants hold; known findings seen: {seen}"

    def to_json(self) -> dict[str, object]:
        rows = []
        for inv in invariants.REGISTRY.values():
            examples = sum(m.checked(inv)[0] for m in self.machines)
            steps = sum(m.checked(inv)[1] for m in self.machines)
            failed = [m for m in self.machines if m.violation is not None and m.violation.invariant == inv.name]
            known = sorted({f for m in self.machines for f in m.findings_seen if FINDINGS[f].invariant == inv.name})
            verdict = "violated" if failed else ("not checked" if not steps else "holds")
            if known and not failed:
                verdict = "holds except known " + ", ".join(known)
            rows.append({"name": inv.name, "checked_examples": examples, "checked_steps": steps, "verdict": verdict})
        violations = [
            {"invariant": m.violation.invariant, "message": m.violation.message, "trace": m.trace_file}
            for m in self.machines
            if m.violation is not None
        ]
        return {
            "verdict": "pass" if self.ok else "fail",
            "line": self.verdict_line(),
            "profile": self.profile,
            "kernel": self.kernel,
            "invariants": rows,
            "findings_seen": self.findings_seen,
            "fixed_but_seen": self.fixed_but_seen,
            "actions_never_taken": self.actions_never_taken,
            "violations": violations,
        }


def run_machine(
    name: str, budget: settings, seed: int | None, progress: Progress | None, kernel: str | None = None
) -> MachineResult:
    cls = machines.MACHINES[name]
    if kernel is not None:  # the same machine, drawing only that kernel's switches
        cls = machines.machine(cls.__name__, attrs.evolve(cls.focus, kernel=kernel), cls.only)
    machines.SEEN.pop(cls.__name__, None)
    machines.STATS.pop(cls.__name__, None)
    task = progress.add_task(name, total=budget.max_examples) if progress is not None else None

    def on_example() -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    machines.ON_EXAMPLE[cls.__name__] = on_example
    test = get_state_machine_test(cls, settings=budget, _min_steps=0, _flaky_state={"selecting_rule": False})
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    violation: InvariantViolation | None = None
    trace_file: str | None = None
    try:
        test()
    except InvariantViolation as err:
        violation = err
        trace_file = str(traces.record(traces.Trace(
            err.initial, tuple(err.actions), found_by=f"check {name}" + (f" kernel {kernel}" if kernel else ""),
            violation=check_run(err.initial, err.actions, cls.only), kernel=kernel,
        )))  # fmt: skip
    finally:
        machines.ON_EXAMPLE.pop(cls.__name__, None)
        if progress is not None and task is not None:
            progress.update(task, completed=budget.max_examples)
    stats = machines.STATS.get(cls.__name__, Counter())
    seen = dict(machines.SEEN.get(cls.__name__, Counter()))
    missing = tuple(e for e in coverage.required(name, kernel) if not seen.get(e))
    taken = frozenset(k.removeprefix("action ") for k in stats if k.startswith("action "))
    return MachineResult(
        name, stats["examples"], stats["steps"], stats["quiescent checks"], seen, missing, violation, trace_file, taken
    )


def run_all(
    *,
    profile: str | None = None,
    seed: int | None = None,
    max_examples: int | None = None,
    machines: Iterable[str] | None = None,
    console: Console | None = None,
    kernel: str | None = None,
) -> Report:
    if kernel is not None:
        kernels.kernel(kernel)  # an unknown name: SpecError, one line
    name = profiles.load(profile or _default_profile())
    budget = settings()
    if max_examples is not None:
        budget = settings(budget, max_examples=max_examples)
    if seed is not None:
        budget = settings(budget, derandomize=False)
    chosen = list(machines or machines_all())
    unknown = [m for m in chosen if m not in machines_all()]
    if unknown:
        raise traces.TraceError(f"unknown machine(s) {', '.join(unknown)} (known: {', '.join(machines_all())})")
    results = []
    with Progress(
        TextColumn("{task.description:8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, disable=console is None,
    ) as progress:  # fmt: skip
        for m in chosen:
            results.append(run_machine(m, budget, seed, progress, kernel))
    findings = []
    for f in FINDINGS.values():
        initial, actions = f.build()
        verdict = check_run(initial, actions)
        findings.append((f.id, f.invariant, verdict.holds and f.id in verdict.findings))
    return Report(name, tuple(results), tuple(findings), kernel)


def machines_all() -> list[str]:
    return list(machines.MACHINES)


def _default_profile() -> str:
    return os.environ.get("TCPCLOSE_PROFILE", "ci")


def summary_table(report: Report) -> Table:
    on = f", kernel {report.kernel}" if report.kernel else ""
    table = Table(title=f"invariants (profile {report.profile}{on}); * marks the user's five promises")
    table.add_column("invariant", overflow="fold")
    table.add_column("concern", overflow="fold")
    table.add_column("kind", overflow="fold")
    table.add_column("examples", justify="right", overflow="fold")
    table.add_column("checks", justify="right", overflow="fold")
    table.add_column("result", overflow="fold")
    table.add_column("trace", overflow="fold")
    for row, inv in zip(report.to_json()["invariants"], invariants.REGISTRY.values(), strict=True):  # type: ignore[call-overload]
        failed = [m for m in report.machines if m.violation is not None and m.violation.invariant == inv.name]
        result = row["verdict"]
        style = {"violated": "[bold red]", "holds": "[green]"}.get(result, "[yellow]")
        name = f"{inv.name} *" if inv.promise else inv.name
        table.add_row(name, inv.concern, inv.kind, str(row["checked_examples"]), str(row["checked_steps"]),
                      f"{style}{result}[/]", "\n".join(m.trace_file or "" for m in failed))  # fmt: skip
    return table


def coverage_table(report: Report) -> Table:
    table = Table(title="states reached (no green by vacuity)")
    table.add_column("machine", overflow="fold")
    table.add_column("examples", justify="right", overflow="fold")
    table.add_column("steps", justify="right", overflow="fold")
    table.add_column("events reached", overflow="fold")
    table.add_column("required, never reached", overflow="fold")
    for m in report.machines:
        events = ", ".join(f"{k} {v}" for k, v in sorted(m.seen.items()))
        table.add_row(m.name, str(m.examples), str(m.steps), events,
                      "[bold red]" + ", ".join(m.missing) + "[/bold red]" if m.missing else "-")  # fmt: skip
    return table


def findings_table(report: Report) -> Table:
    table = Table(title="known findings (properties/findings.py): matched by signature, never switched off")
    table.add_column("finding", overflow="fold")
    table.add_column("invariant", overflow="fold")
    table.add_column("what", overflow="fold")
    table.add_column("seen by machines", overflow="fold")
    table.add_column("pinned trace", overflow="fold")
    for fid, inv, ok in report.findings:
        machines = [m.name for m in report.machines if fid in m.findings_seen]
        table.add_row(fid, inv, FINDINGS[fid].title, ", ".join(machines) or "-",
                      "reproduces" if ok else "[bold red]NO: the spec changed[/bold red]")  # fmt: skip
    return table
