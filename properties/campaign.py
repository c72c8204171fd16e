"""``tcpclose fuzz``: a fuzzing campaign over every state machine, in N worker processes that share
one Hypothesis example database (a directory on this machine, or a Redis server shared by many).

Each worker visits the machines in turn (each worker starting at a different one). On its first
visit to a machine it replays what the database holds for it (Hypothesis's reuse phase alone):
failing examples first, then covering ones; then it runs rounds of fresh random examples
(generate, target, shrink) until the time is up. A failure is shrunk by Hypothesis, saved in the
database (so every other worker replays it first) and written as a trace file; that worker then
leaves the machine. Covering examples are the pareto front of the machines' coverage events,
reported as Hypothesis targets (properties/machines.py ``TARGETS``).

The machines, their invariants and coverage events, and the trace files are the ones ``tcpclose
check`` and the test suite use; nothing here checks anything on its own.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_mod
import time
import unittest
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.configuration import storage_directory
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.stateful import run_state_machine_as_test
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from properties import coverage, machines, traces
from properties.checker import NotEnabledAt, Verdict, check_run
from properties.machines import InvariantViolation

# Examples per round: small enough that a worker notices the end of the campaign within seconds,
# large enough that Hypothesis's per-run costs stay small beside the examples.
ROUND_EXAMPLES = 50
STEPS_PER_EXAMPLE = 50
# How often a worker reports its counts to the driver, in seconds.
PROGRESS_EVERY = 0.5
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class CampaignError(Exception):
    """A campaign that cannot start as asked: one line."""


# -- the example database --------------------------------------------------------------------------


def describe_db(url: str | None) -> str:
    return url or f"{storage_directory('examples').path} (local directory, Hypothesis's default)"


def open_db(url: str | None) -> ExampleDatabase:
    """``redis://HOST:PORT[/N]`` (also rediss://, unix://): Hypothesis's Redis database, checked
    with a ping; anything else names a directory (None: Hypothesis's local ``.hypothesis/examples``)."""
    if url is None:
        default = settings.get_profile("default").database
        assert default is not None
        return default
    if url.startswith(REDIS_SCHEMES):
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase

        try:
            client = redis.Redis.from_url(url)
            client.ping()
        except ValueError as err:
            raise CampaignError(f"--db {url}: not a Redis URL ({err})") from None
        except redis.RedisError as err:
            raise CampaignError(f"--db {url}: cannot reach the Redis server: {err}") from None
        return RedisExampleDatabase(client)
    if "://" in url:
        raise CampaignError(f"--db {url}: unknown scheme (use redis://HOST:PORT or a directory)")
    path = Path(url)
    if path.exists() and not path.is_dir():
        raise CampaignError(f"--db {url}: exists and is not a directory")
    return DirectoryBasedExampleDatabase(path)


class KeyRecorder(ExampleDatabase):
    """Passes everything to ``db`` and notes, per machine, the keys it touched, so that the
    summary can say what the database holds for each machine at the end."""

    def __init__(self, db: ExampleDatabase) -> None:
        super().__init__()
        self.db = db
        self.machine = ""
        self.keys: dict[str, set[bytes]] = {}

    def fetch(self, key: bytes) -> Iterable[bytes]:
        self.keys.setdefault(self.machine, set()).add(key)
        return self.db.fetch(key)

    def save(self, key: bytes, value: bytes) -> None:
        self.keys.setdefault(self.machine, set()).add(key)
        self.db.save(key, value)

    def delete(self, key: bytes, value: bytes) -> None:
        self.db.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.keys.setdefault(self.machine, set()).add(dest)
        self.db.move(src, dest, value)


def kind_of_key(key: bytes) -> str:
    """Hypothesis's corpora for one test: failing examples under its key, earlier (larger)
    failing ones under ``.secondary``, covering ones (the targets' pareto front) under ``.pareto``."""
    if key.endswith(b".pareto"):
        return "covering"
    return "failing"


def held(db: ExampleDatabase, keys: Iterable[bytes]) -> Counter[str]:
    """How many examples the database holds now under ``keys``, by kind."""
    out: Counter[str] = Counter()
    for key in keys:
        out[kind_of_key(key)] += len(list(db.fetch(key)))
    return out


# -- what a worker reports ---------------------------------------------------------------------------


@attrs.frozen
class Failure:
    machine: str
    worker: int
    invariant: str | None  # None: the run raised something other than an invariant violation
    message: str  # the first line
    replayed: bool  # found while replaying the database
    trace_file: str | None


@attrs.frozen
class Tally:
    """One machine in one worker."""

    machine: str
    worker: int
    examples: int
    steps: int
    replayed: int  # examples replayed from the database before any new one
    events: dict[str, int]
    keys: frozenset[bytes]  # its keys in the database


@attrs.frozen
class Job:
    worker: int
    machines: tuple[str, ...]  # in the order this worker visits them
    seconds: float  # from the worker's start: after that it starts no new round
    db: str | None
    mutant: str | None


@attrs.frozen
class Tick:
    """A worker's running totals over every machine it visited."""

    worker: int
    machine: str
    examples: int
    steps: int


def budget(db: ExampleDatabase, phases: Sequence[Phase]) -> settings:
    """Random seeds (each worker its own), the database, rounds of ROUND_EXAMPLES examples; quiet,
    since the driver reports. Profile-independent: a campaign is never derandomized."""
    return settings(
        settings.get_profile("default"),
        max_examples=ROUND_EXAMPLES,
        stateful_step_count=STEPS_PER_EXAMPLE,
        derandomize=False,
        database=db,
        deadline=None,
        phases=phases,
        verbosity=Verbosity.quiet,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


REPLAY = (Phase.reuse,)
ROUND = (Phase.reuse, Phase.generate, Phase.target, Phase.shrink)


def work(job: Job, report: Callable[[Any], None]) -> list[Tally]:
    """One worker: visit ``job.machines`` in turn until the deadline (or until every one of them
    has failed); ``report`` receives Ticks and Failures as they happen."""
    from properties.mutants import ALL_MUTANTS

    mutant = ALL_MUTANTS[job.mutant] if job.mutant else None
    db = KeyRecorder(open_db(job.db))
    deadline = time.monotonic() + job.seconds
    last = 0.0

    def tick(name: str, force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if force or now - last >= PROGRESS_EVERY:
            last = now
            stats = [machines.STATS.get(machines.MACHINES[m].__name__, Counter()) for m in job.machines]
            report(Tick(job.worker, name, sum(s["examples"] for s in stats), sum(s["steps"] for s in stats)))

    for name in job.machines:
        cls = machines.MACHINES[name]
        machines.STATS.pop(cls.__name__, None)
        machines.SEEN.pop(cls.__name__, None)
        machines.TARGETS.add(cls.__name__)
    replayed: dict[str, int] = {}
    failures: dict[str, Failure] = {}
    while time.monotonic() < deadline and len(failures) < len(job.machines):
        for name in job.machines:
            if name in failures or time.monotonic() >= deadline:
                continue
            cls = machines.MACHINES[name]
            machines.ON_EXAMPLE[cls.__name__] = lambda name=name: tick(name)  # type: ignore[misc]
            db.machine = name
            first = name not in replayed
            before = machines.STATS.get(cls.__name__, Counter())["examples"]
            failure = _run(cls, name, job, db, REPLAY if first else ROUND, mutant, replaying=first)
            if first:
                replayed[name] = machines.STATS.get(cls.__name__, Counter())["examples"] - before
            if failure is not None:
                failures[name] = failure
                report(failure)
            tick(name, force=True)
    for name in job.machines:
        machines.ON_EXAMPLE.pop(machines.MACHINES[name].__name__, None)
    return [_tally(name, job.worker, replayed.get(name, 0), db) for name in job.machines]


def _tally(name: str, worker: int, replayed: int, db: KeyRecorder) -> Tally:
    cls = machines.MACHINES[name]
    stats = machines.STATS.get(cls.__name__, Counter())
    return Tally(
        name, worker, stats["examples"], stats["steps"], replayed, dict(machines.SEEN.get(cls.__name__, Counter())),
        frozenset(db.keys.get(name, set())),
    )  # fmt: skip


def _run(
    cls: type[machines.SpecMachine],
    name: str,
    job: Job,
    db: ExampleDatabase,
    phases: Sequence[Phase],
    mutant: Any,
    *,
    replaying: bool,
) -> Failure | None:
    """One Hypothesis run of a machine; a failure, written as a trace file, or None."""
    found: InvariantViolation | None = None
    try:
        with mutant.applied() if mutant is not None else nullcontext():
            run_state_machine_as_test(cls, settings=budget(db, phases))
    except InvariantViolation as err:
        found = err
    except unittest.SkipTest:  # Hypothesis ran nothing: the database held nothing to replay
        return None
    except Exception as err:  # a crash of the spec or of Hypothesis: reported, never lost
        first = (str(err).splitlines() or [""])[0]
        return Failure(name, job.worker, None, f"{type(err).__name__}: {first}", replaying, None)
    if found is None:
        return None
    with mutant.applied() if mutant is not None else nullcontext():
        verdict = check_run(found.initial, found.actions, cls.only)
    note = ""
    try:  # what the unmodified spec does with the same run (the same as ``verdict`` without a mutant)
        on_spec: Verdict | None = check_run(found.initial, found.actions, cls.only)
    except NotEnabledAt as err:
        on_spec, note = None, f"the unmodified spec cannot run this trace: {err}"
    trace = traces.Trace(
        found.initial, tuple(found.actions), found_by=f"fuzz {name} w{job.worker}", mutant=job.mutant,
        violation=verdict, expect_on_spec=None if on_spec is None or on_spec.holds else on_spec, note=note,
    )  # fmt: skip
    path = traces.record(trace)  # under $TCPCLOSE_TRACE_DIR, which workers inherit from the driver
    message = str(found).splitlines()[0]
    return Failure(name, job.worker, found.invariant, message, replaying, str(path))


def _worker_main(job: Job, out: Any) -> None:
    """A worker process: its results, or the one line that stopped it, go back on ``out``."""
    try:
        out.put(("done", job.worker, work(job, out.put)))
    except BaseException as err:  # the driver reports it; a worker never dies silently
        out.put(("crashed", job.worker, f"{type(err).__name__}: {err}"))


# -- the driver ------------------------------------------------------------------------------------


@attrs.frozen
class MachineSummary:
    name: str
    examples: int
    steps: int
    replayed: int
    events: dict[str, int]
    missing: tuple[str, ...]  # required coverage events never reached
    held: dict[str, int]  # what the database holds for it at the end


@attrs.frozen
class Report:
    db: str
    workers: int
    seconds: float
    machines: tuple[MachineSummary, ...]
    failures: tuple[Failure, ...]
    crashed: tuple[str, ...]  # workers that stopped on an error of their own

    @property
    def ok(self) -> bool:
        # Every failure is new: a known finding is recognised by its signature and recorded as an
        # event (``known Fn``), never raised.
        return not self.failures and not self.crashed


def check_args(
    minutes: float, workers: int, db: str | None, machine_names: Sequence[str] | None, mutant: str | None
) -> tuple[tuple[str, ...], ExampleDatabase]:
    """The machines to fuzz and the database, opened once here rather than failing in every worker."""
    from properties.mutants import ALL_MUTANTS

    names = tuple(machine_names or machines.MACHINES)
    unknown = [m for m in names if m not in machines.MACHINES]
    if unknown:
        raise CampaignError(f"unknown machine(s) {', '.join(unknown)} (known: {', '.join(machines.MACHINES)})")
    if mutant is not None and mutant not in ALL_MUTANTS:
        raise CampaignError(f"unknown mutant {mutant!r} (see properties/mutants.py)")
    if minutes <= 0 or workers < 1:
        raise CampaignError("--minutes must be above 0 and --workers at least 1")
    return names, open_db(db)


def run_campaign(
    *,
    minutes: float,
    workers: int,
    db: str | None = None,
    machine_names: Sequence[str] | None = None,
    mutant: str | None = None,
    on_tick: Callable[[Tick], None] | None = None,
    on_failure: Callable[[Failure], None] | None = None,
) -> Report:
    """Run ``workers`` worker processes for ``minutes`` and gather what they did."""
    names, database = check_args(minutes, workers, db, machine_names, mutant)
    start = time.time()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = []
    for w in range(workers):
        order = names[w % len(names) :] + names[: w % len(names)]
        job = Job(w, order, minutes * 60, db, mutant)
        proc = ctx.Process(target=_worker_main, args=(job, out), name=f"tcpclose-fuzz-w{w}", daemon=True)
        proc.start()
        procs.append(proc)
    results: dict[int, list[Tally]] = {}
    crashed: dict[int, str] = {}
    failures: list[Failure] = []
    try:
        while len(results) + len(crashed) < workers:
            try:
                kind = out.get(timeout=1.0)
            except queue_mod.Empty:
                for w, proc in enumerate(procs):
                    if not proc.is_alive() and w not in results and w not in crashed and out.empty():
                        crashed[w] = f"worker {w} exited with status {proc.exitcode}"
                continue
            if isinstance(kind, Tick):
                if on_tick is not None:
                    on_tick(kind)
            elif isinstance(kind, Failure):
                failures.append(kind)
                if on_failure is not None:
                    on_failure(kind)
            elif kind[0] == "done":
                results[kind[1]] = kind[2]
            else:
                crashed[kind[1]] = kind[2]
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
    summaries = []
    for name in names:
        tallies = [t for ts in results.values() for t in ts if t.machine == name]
        events: Counter[str] = Counter()
        keys: set[bytes] = set()
        for t in tallies:
            events.update(t.events)
            keys |= t.keys
        missing = tuple(e for e in coverage.REQUIRED[name] if not events.get(e))
        summaries.append(MachineSummary(
            name, sum(t.examples for t in tallies), sum(t.steps for t in tallies), sum(t.replayed for t in tallies),
            dict(events), missing, dict(held(database, keys)),
        ))  # fmt: skip
    return Report(
        describe_db(db), workers, time.time() - start, tuple(summaries), tuple(failures),
        tuple(f"worker {w}: {why}" for w, why in sorted(crashed.items())),
    )  # fmt: skip


# -- what the command prints -------------------------------------------------------------------------


def run_with_progress(console: Console, **kwargs: Any) -> Report:
    """``run_campaign`` with a bar per worker (its machine, examples and steps so far, against the
    campaign's time) and a line for each failure as it is found."""
    workers: int = kwargs["workers"]
    check_args(kwargs["minutes"], workers, kwargs.get("db"), kwargs.get("machine_names"), kwargs.get("mutant"))
    seconds = kwargs["minutes"] * 60
    names = ", ".join(kwargs.get("machine_names") or machines.MACHINES)
    extra = f", mutant {kwargs['mutant']}" if kwargs.get("mutant") else ""
    console.print(
        f"fuzzing {names} with {workers} worker(s) for {kwargs['minutes']:g} min{extra}; "
        f"database {describe_db(kwargs.get('db'))}"
    )
    start = time.monotonic()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=False
    ) as progress:
        tasks = [progress.add_task(f"w{w} starting", total=seconds) for w in range(workers)]

        def on_tick(t: Tick) -> None:
            progress.update(
                tasks[t.worker], completed=min(seconds, time.monotonic() - start),
                description=f"w{t.worker} {t.machine:8} {t.examples:>7,} examples {t.steps:>9,} steps",
            )  # fmt: skip

        def on_failure(f: Failure) -> None:
            what = "NEW failure"
            how = " (replayed from the database)" if f.replayed else ""
            console.print(f"w{f.worker} {f.machine}: {what}{how}: {f.message}")
            if f.trace_file:
                console.print(f"  trace written to {f.trace_file}")

        report = run_campaign(on_tick=on_tick, on_failure=on_failure, **kwargs)
        for task in tasks:
            progress.update(task, completed=seconds)
    return report


def machines_table(report: Report) -> Table:
    table = Table(title=f"campaign: {report.workers} worker(s), {report.seconds:.0f} s, database {report.db}")
    table.add_column("machine")
    table.add_column("examples", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("replayed from the database", justify="right")
    table.add_column("database at the end", justify="right")
    table.add_column("known findings seen")
    table.add_column("new failures")
    for m in report.machines:
        # Known findings are recognised by signature and recorded as events, never as failures.
        known = sorted(e.removeprefix("known ") for e in m.events if e.startswith("known "))
        new = [f for f in report.failures if f.machine == m.name]
        table.add_row(
            m.name, f"{m.examples:,}", f"{m.steps:,}", f"{m.replayed:,}",
            f"{m.held.get('failing', 0)} failing, {m.held.get('covering', 0)} covering",
            ", ".join(known) or "-",
            f"[bold red]{len(new)}[/bold red]" if new else "0",
        )  # fmt: skip
    return table


def replay_line(report: Report) -> str:
    """What the workers found in the database before generating anything."""
    replayed = sum(m.replayed for m in report.machines)
    again = sum(1 for f in report.failures if f.replayed)
    if not replayed:
        return "replayed from the database: nothing (it held nothing for these machines)"
    return f"replayed from the database: {replayed:,} examples, {again} of them failing again"


def coverage_table(report: Report) -> Table:
    table = Table(title="coverage events reached (properties/coverage.py)")
    table.add_column("machine")
    table.add_column("events reached")
    table.add_column("required, never reached")
    for m in report.machines:
        events = ", ".join(f"{k} {v:,}" for k, v in sorted(m.events.items()))
        table.add_row(m.name, events or "-", ", ".join(m.missing) or "-")
    return table


def failures_table(report: Report) -> Table:
    table = Table(title="failures (each written as a trace file: tcpclose replay FILE)")
    table.add_column("machine")
    table.add_column("worker", justify="right")
    table.add_column("invariant")
    table.add_column("what")
    table.add_column("replayed")
    table.add_column("trace file")
    for f in report.failures:
        what = "[bold red]new[/bold red]"
        table.add_row(f.machine, str(f.worker), f.invariant or f.message, what, "yes" if f.replayed else "no",
                      f.trace_file or "-")  # fmt: skip
    return table
