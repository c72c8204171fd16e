"""``tcpclose``: the command line, a thin front door over spec/, model/ and properties/.

Exit status (tcpclose/ui.py): 0 everything holds (or, for ``replay``, the trace no longer
violates anything); 1 a violation; 2 bad input (one line on stderr, never a traceback, no file
touched); 3 a budget ended the work first; 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.markup import escape

from model.costs import DEFAULT_PROFILE as DEFAULT_COSTS
from model.costs import PROFILES as COST_PROFILES
from model.kernels import kernel as named_kernel
from model.limits import (
    CPU_ID,
    DEFER_MAX,
    EXPLORE_CPUS,
    EXPLORE_NODES,
    EXPLORE_SKBS,
    EXPLORE_SOCKETS,
    INT64,
    LIVE_EXAMPLES,
    LIVE_SHRINK_SECONDS,
    MAX_DEPTH,
    MAX_DIGITS,
    MAX_EXAMPLES,
    MAX_MEMORY_MIB,
    MAX_SECONDS,
    MAX_SKBS_TOTAL,
    MAX_STATES,
    PROBE_REPS,
    PROBE_SENDS,
    PROBE_SOCKETS,
    SCENARIO_SKBS,
    SCENARIO_SOCKETS,
    SEED,
    SPECDIFF_TIMEOUT,
    SPIN_VIOLATIONS,
    SPIN_WORKERS,
    TRACE_CPUS,
)
from model.machines import MACHINES as LAYOUTS
from model.scenarios import attack, recvmsg_steady
from model.scheduler import replay as replay_states
from model.scheduler import run
from model.small import SMALL
from properties import timeline, traces
from properties.report import kernel_words, place
from spec import SpecError, State
from tcpclose.ui import (
    BAD_INPUT,
    BUDGET,
    HOLDS,
    INTERRUPTED,
    VIOLATION,
    Bounded,
    bad_input,
    fail,
    renamed,
    table,
    trace_dir_checked,
    writable_dir,
)
from tcpclose.ui import console as make_console

if TYPE_CHECKING:
    from properties.spin.engine import SpinViolation

console = make_console()


def entry() -> None:
    """The console script: click's usage errors become one line and exit status 2 too, Ctrl-C 130."""
    try:
        main.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:  # a bare ``tcpclose``: show the help
        click.echo(err.format_message())
    except (click.Abort, KeyboardInterrupt):
        fail("interrupted", INTERRUPTED)
    except click.ClickException as err:
        fail(err.format_message())
    except BrokenPipeError:  # ``tcpclose check | head``: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(HOLDS)


@click.group()
@click.version_option(package_name="tcpclose")
def main() -> None:
    """Verify and measure how Linux frees a closing TCP socket's unread receive buffers.

    \b
    tcpclose check              run every state machine, say what holds
    tcpclose fuzz               a long campaign in N processes, sharing an example database
    tcpclose replay FILE        re-run a trace step by step, CPU by CPU
    tcpclose pin FILE           add a trace to the regression corpus
    tcpclose explore            every interleaving of a small configuration
    tcpclose kernels            the named kernels as sets of switches (commits)
    tcpclose findings [Fn]      the known findings as reports: kernels, trace, fixes
    tcpclose spec-diff [REV]    did my edit of the spec change its behaviour?
    tcpclose scenario attack    close-old and close-new side by side
    tcpclose metrics attack     what each free path costs: atomics, transfers, IPIs, time
    tcpclose probe              the attack on this kernel, beside the spec's prediction
    tcpclose live               generated workloads on this kernel, the spec as the oracle

    \b
    Exit status: 0 holds, 1 a violation, 2 bad input, 3 a budget ran out, 130 interrupted.
    """


# -- check ---------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--profile",
    type=click.Choice(["dev", "ci", "thorough"]),
    default=None,
    help="Hypothesis profile: dev, ci or thorough (default: $TCPCLOSE_PROFILE, else ci).",
)
@click.option("--seed", type=Bounded(SEED), default=None, help="Random seed (ci is derandomized otherwise).")
@click.option("--max-examples", type=Bounded(MAX_EXAMPLES), default=None, help="Examples per machine.")
@click.option(
    "--machine",
    "machines",
    multiple=True,
    help="Only this state machine (repeatable): close, hotplug, race, offline, sysctl, wedge, fixed.",
)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the verdict, each invariant's checks and the findings seen to this file.")  # fmt: skip
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the report as JUnit XML to this file (for CI systems).",
)
@click.option("--kernel", default=None, metavar="NAME",
              help="Every machine draws only this kernel's switches (tcpclose kernels); default: all.")  # fmt: skip
def check(
    profile: str | None,
    seed: int | None,
    max_examples: int | None,
    machines: tuple[str, ...],
    json_file: Path | None,
    junit_file: Path | None,
    kernel: str | None,
) -> None:
    """Run every state machine and the known-finding traces, then print what holds.

    Every invariant is checked after every step of every example. A violation that a known
    finding's signature explains is reported as that finding; any other writes a trace file
    (replay it with ``tcpclose replay``). Exit 0 when only known findings show, 1 on anything
    else or when a known finding no longer reproduces from its pinned trace."""
    from properties import checkrun

    with bad_input():
        trace_dir_checked()
        for option, path in (("--json", json_file), ("--junit", junit_file)):
            if path is not None:
                writable_dir(path.parent, option)
        report = checkrun.run_all(
            profile=profile, seed=seed, max_examples=max_examples, machines=machines or None, console=console,
            kernel=kernel,
        )  # fmt: skip
        if junit_file is not None:
            from properties.junit import junit_xml

            traces.write_text_atomic(junit_file, junit_xml(report))
    console.print(checkrun.summary_table(report))
    console.print(checkrun.coverage_table(report))
    console.print(checkrun.findings_table(report))
    if json_file is not None:
        with bad_input():
            traces.write_text_atomic(json_file, json.dumps(report.to_json(), indent=1) + "\n")
    line = report.verdict_line()
    console.print(f"[green]{line}[/green]" if report.ok else f"[bold red]{line}[/bold red]", soft_wrap=True)
    sys.exit(HOLDS if report.ok else VIOLATION)


# -- fuzz ----------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="How long each worker fuzzes, from its start (it finishes the round it is in).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="all cores",
    help="Worker processes on this machine.",
)
@click.option(
    "--db",
    metavar="URL",
    default=None,
    help="Example database the workers share: redis://HOST:PORT[/N] for a Redis server (several "
    "machines), or a directory (default: Hypothesis's .hypothesis/examples).",
)
@click.option(
    "--machine",
    "machines",
    multiple=True,
    help="Only these machines (close, hotplug, race, offline, sysctl, wedge, fixed; repeatable).",
)
@click.option(
    "--mutant",
    default=None,
    metavar="NAME",
    help="Fuzz a deliberately broken spec (properties/mutants.py), to see a failure found and shared.",
)
def fuzz(minutes: float, workers: int, db: str | None, machines: tuple[str, ...], mutant: str | None) -> None:
    """A fuzzing campaign over every state machine: random examples in WORKERS processes that share
    one Hypothesis example database, replaying what it holds first (failing, then covering examples).

    At the end, per machine: examples, steps, examples replayed from the database, what the
    database holds, coverage events, known findings seen, and new failures, each written as a
    trace file. Exit 1 on a new failure."""
    from properties import campaign

    try:
        report = campaign.run_with_progress(
            console, minutes=minutes, workers=workers, db=db, machine_names=machines or None, mutant=mutant
        )
    except campaign.CampaignError as err:
        fail(str(err))
    console.print(campaign.machines_table(report))
    console.print(campaign.replay_line(report))
    console.print(campaign.coverage_table(report))
    if report.failures:
        console.print(campaign.failures_table(report))
    for line in report.crashed:
        console.print(f"[bold red]{line}[/bold red]")
    sys.exit(0 if report.ok else 1)


# -- replay --------------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print timeline and verdict (with --expect, the check) as JSON.")
@click.option("--without-mutant", is_flag=True, help="Replay on the unmodified spec even if the trace names a mutant.")
@click.option(
    "--expect",
    is_flag=True,
    help="Check that the trace still behaves as recorded (on the spec, and under its mutant): exit 0 if so, "
    "1 with one line per difference.",
)
def replay(file: Path, as_json: bool, without_mutant: bool, expect: bool) -> None:
    """Re-run a trace with the spec's own step function and tell it as a timeline.

    Exit 1 when a violation that no known finding explains shows, 0 when the trace passes or shows
    only known findings (named below the timeline)."""
    from properties.mutants import ALL_MUTANTS

    with bad_input():
        if expect and without_mutant:
            raise SpecError("--expect checks the trace both on the spec and under its mutant; drop --without-mutant")
        trace = traces.load(file)
        if expect:
            expect_as_recorded(file, trace, as_json)
        verdict = traces.replay(trace, with_mutant=not without_mutant)
        mutant = ALL_MUTANTS[trace.mutant] if trace.mutant and not without_mutant else None
        with mutant.applied() if mutant else nullcontext():
            states = replay_states(trace.initial, trace.actions)
    rows = timeline.rows(states, trace.actions)
    waiting = waiting_at_quiescence(states[-1]) if verdict.quiescent else {}
    final = states[-1]
    if as_json:
        click.echo(json.dumps({
            "file": str(file), "mutant": mutant.name if mutant else None, "kernel": trace.kernel,
            "rows": [{"step": r.step, "action": r.action, "cpu": r.cpu, "changes": list(r.changes)} for r in rows],
            "violation": None if verdict.holds else {
                "invariant": verdict.invariant, "step": verdict.step, "message": kernel_words(verdict.message),
                "quiescent": verdict.quiescent},
            "findings": list(verdict.findings),
            "waiting_at_quiescence": {
                f"skb{k}": {"on": place(final.skbs[k].where), "why": v} for k, v in waiting.items()},
        }, indent=1))  # fmt: skip
    else:
        from model.kernels import matching

        named = ", ".join(matching(trace.initial.config)) or "no named kernel"
        runs = f"kernel {trace.kernel}" if trace.kernel else named
        console.print(f"the configuration of: {runs}", soft_wrap=True)
        print_timeline(trace.initial, rows, verdict, mutant.name if mutant else None)
        for skb_id, why in waiting.items():
            console.print(escape(f"skb{skb_id} still waits on {place(final.skbs[skb_id].where)}: {why}"))
    sys.exit(HOLDS if verdict.holds else VIOLATION)


def expect_as_recorded(file: Path, trace: traces.Trace, as_json: bool) -> None:
    """``replay --expect``: does the trace still do what its file says it should?"""
    from properties import corpus

    exp = corpus.expectation(trace)
    problems = corpus.mismatches(trace)
    if as_json:
        click.echo(json.dumps({
            "file": str(file), "as_recorded": not problems, "problems": problems,
            "expected_on_spec": corpus.describe(exp.on_spec),
            "expected_under_mutant": corpus.describe(exp.under_mutant) if trace.mutant else None,
        }, indent=1))  # fmt: skip
    elif problems:
        for line in problems:
            click.echo(f"{file}: {line}")
    else:
        under = f"; under mutant {trace.mutant}: {corpus.describe(exp.under_mutant)}" if trace.mutant else ""
        click.echo(f"{file}: behaves as recorded: on the spec, {corpus.describe(exp.on_spec)}{under}")
    sys.exit(VIOLATION if problems else HOLDS)


def waiting_at_quiescence(final: State) -> dict[int, str]:
    """Why each skb still on a defer slot at the end of a quiescent run waits there."""
    from properties.invariants import waiting_reasons

    return {k: kernel_words(v) if v else "no reason the kernel allows" for k, v in waiting_reasons(final).items()}


def print_timeline(initial: State, rows: list[timeline.Row], verdict: Any, mutant: str | None) -> None:
    console.print(f"[bold]{timeline.header(initial)}" + (f", mutant {mutant}" if mutant else "") + "[/bold]")
    t = table("step", *(f"CPU {c.id}" for c in initial.cpus), "env", "what changed", show_lines=False)
    for r in rows:
        cells = ["" for _ in initial.cpus]
        env = ""
        if r.cpu is None:
            env = r.action
        else:
            cells[r.cpu] = r.action
        bad = not verdict.holds and r.step == verdict.step
        style = "bold red" if bad else None
        t.add_row(str(r.step), *cells, env, escape("\n".join(r.changes)) or "-", style=style)
    console.print(t)
    if verdict.findings:
        from properties.findings import FINDINGS

        for fid in verdict.findings:
            console.print(f"known finding {fid} ({FINDINGS[fid].invariant}): {FINDINGS[fid].title}", soft_wrap=True)
    if verdict.holds:
        console.print(
            f"[green]holds: no invariant fails in {len(rows)} steps but for known findings"
            + (" (quiescent)" if verdict.quiescent else "")
            + "[/green]"
        )
    else:
        where = "at quiescence after" if verdict.quiescent else "at"
        message = escape(kernel_words(verdict.message))
        console.print(f"[bold red]✗ {verdict.invariant} fails {where} step {verdict.step}: {message}[/bold red]")


# -- pin -----------------------------------------------------------------------------------------


@main.command()
@click.argument("trace_file", metavar="TRACE", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--into",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The corpus folder (default: this checkout's tests/counterexamples/, which pytest replays).",
)
def pin(trace_file: Path, into: Path | None) -> None:
    """Add a trace to the regression corpus, with the expectation its file records: a bug found
    on the spec must pass now (pin it once it is fixed), a finding must still reproduce, a
    mutant must still be caught. Exit 0 pinned, 1 not pinned (with the reasons)."""
    from properties import corpus

    with bad_input():
        trace = traces.load(trace_file)
        folder = into or corpus.CORPUS
        if not folder.is_dir():
            raise SpecError(f"no corpus folder at {folder} (pass --into DIR)")
        writable_dir(folder, "corpus folder")
        path, problems = corpus.pin(trace, folder)
    if path is None:
        click.echo(f"{trace_file}: not pinned:")
        for line in problems:
            click.echo(f"  {line}")
        sys.exit(VIOLATION)
    exp = corpus.expectation(trace)
    under = f"; under mutant {trace.mutant}, {corpus.describe(exp.under_mutant)}" if trace.mutant else ""
    click.echo(f"pinned as {path}: on the spec, {corpus.describe(exp.on_spec)}{under}")
    sys.exit(HOLDS)


# -- explore -------------------------------------------------------------------------------------

SHAPE_OPTIONS = ("cpus", "nodes", "sockets", "skbs", "defer_max", "hotplug", "hotplug_flush", "sysctl", "defer",
                 "close_path")  # fmt: skip


def bounded_settings(pairs: tuple[str, ...], parse: Callable[[tuple[str, ...]], dict[str, Any]]) -> dict[str, Any]:
    """``explore --set KEY=VALUE``: a key with an option of its own is refused (one name, one way
    in), a value longer than any number here is refused before it is parsed, and every integer
    must fit a kernel field (64 bits)."""
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key.strip().replace("-", "_") in SHAPE_OPTIONS:
            raise SpecError(f"--set {key.strip()}: use the option --{key.strip().replace('_', '-')}")
        if len(text) > MAX_DIGITS:
            raise SpecError(f"--set {key.strip()}: a value of {len(text)} characters; none here has more than "
                            f"{MAX_DIGITS}")  # fmt: skip
    values = parse(pairs)
    for key, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64:
            raise SpecError(f"--set {key}: {value} fits no kernel field (64 bits)")
    return values


def default_max_memory_mib() -> int:
    """4 GiB, or half of this machine's memory when that is less."""
    try:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**21
    except (ValueError, OSError):
        return 4096
    return int(max(MAX_MEMORY_MIB.lo, min(4096, half)))


@main.command()
@click.option(
    "--config",
    "config_name",
    type=click.Choice(list(SMALL)),
    default=None,
    help=f"A named small configuration (model/small.py): {', '.join(SMALL)}. The shape options are then refused.",
)
@click.option("--cpus", type=Bounded(EXPLORE_CPUS), default=2, show_default=True, help="CPUs of the machine")
@click.option("--nodes", type=Bounded(EXPLORE_NODES), default=1, show_default=True, help="NUMA nodes (<= CPUs)")
@click.option("--sockets", type=Bounded(EXPLORE_SOCKETS), default=1, show_default=True, help="sockets closed")
@click.option("--skbs", type=Bounded(EXPLORE_SKBS), default=1, show_default=True,
              help="unread skbs per socket, built on CPU 0")  # fmt: skip
@click.option("--defer-max", type=Bounded(DEFER_MAX), default=4, show_default=True,
              help="net.core.skb_defer_max at boot")  # fmt: skip
@click.option("--hotplug/--no-hotplug", default=False, help="one CPU may go offline and come back")
@click.option("--hotplug-flush/--no-hotplug-flush", default=False, help="dev_cpu_dead() empties the slots")
@click.option("--sysctl", type=Bounded(DEFER_MAX), default=None, help="allow one write of skb_defer_max, to this value")
@click.option("--defer", type=click.Choice(["defer-v6", "defer-v2"]), default="defer-v6", show_default=True,
              help="skb_attempt_defer_free() of v6.18 (lock-free, per node) or of v5.19-v6.17 (spinlock)")  # fmt: skip
@click.option("--close-path", type=click.Choice(["close-new", "close-old"]), default="close-new", show_default=True,
              help="the purge loop of __tcp_close(): v6.18's tcp_eat_recv_skb() or v6.17's __kfree_skb()")  # fmt: skip
@click.option("--set", "settings_", multiple=True, metavar="KEY=VALUE",
              help="any other parameter of model/small.py's small(), e.g. --set recv=1448 --set unread_test=len_sum "
              "(repeatable)")  # fmt: skip
@click.option("--mutant", default=None, help="explore with a mutant of properties/mutants.py applied (a planted bug)")
@click.option(
    "--kernel",
    default=None,
    metavar="NAME",
    help="the configuration runs this kernel's switches (tcpclose kernels), over the variant options",
)
@click.option("--max-states", type=Bounded(MAX_STATES), default=1_000_000, show_default=True,
              help="stop (exit 3) after this many distinct states")  # fmt: skip
@click.option("--max-memory", type=Bounded(MAX_MEMORY_MIB), default=None,
              help="stop (exit 3) when the process's peak memory passes this many MiB "
              "[default: 4096, or half this machine's memory if less]")  # fmt: skip
@click.option("--max-depth", type=Bounded(MAX_DEPTH), default=None,
              help="stop (exit 3) after this many steps from the initial state [default: no bound]")  # fmt: skip
@click.option("--max-seconds", type=Bounded(MAX_SECONDS, float), default=600.0, show_default=True,
              help="stop (exit 3) after this long")  # fmt: skip
@click.option(
    "--engine",
    type=click.Choice(["python", "spin"]),
    default="python",
    show_default=True,
    help="python: properties/explorer.py; spin: the Promela of properties/spin/ checked by SPIN's pan",
)
@click.option("--workers", type=Bounded(SPIN_WORKERS), default=1, show_default=True,
              help="--engine spin: pan's multi-core search on this many cores")  # fmt: skip
@click.option("--bitstate", is_flag=True, help="--engine spin: one bit per state (partial search, coverage estimate)")
@click.option("--hashcompact", is_flag=True, help="--engine spin: 4-byte compressed states (partial search)")
@click.option("--depth-first", is_flag=True, help="--engine spin: depth first instead of breadth first")
@click.option("--max-violations", type=Bounded(SPIN_VIOLATIONS), default=1, show_default=True,
              help="--engine spin: trails written per invariant")  # fmt: skip
@click.option(
    "--emit-swarm",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="--engine spin: write the model and a member script for swarm verification to DIR, and stop",
)
@click.option(
    "--trails",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="--engine spin: judge the trails a swarm left under DIR (same configuration), and stop",
)
@click.pass_context
def explore(
    ctx: click.Context, config_name: str | None, cpus: int, nodes: int, sockets: int, skbs: int, defer_max: int,
    hotplug: bool, hotplug_flush: bool, sysctl: int | None, defer: str, close_path: str, settings_: tuple[str, ...],
    mutant: str | None, kernel: str | None, max_states: int, max_memory: int | None, max_depth: int | None,
    max_seconds: float, engine: str, workers: int, bitstate: bool, hashcompact: bool, depth_first: bool,
    max_violations: int, emit_swarm: Path | None, trails: Path | None,
) -> None:  # fmt: skip
    """Visit every interleaving of a small configuration breadth first, checking every
    invariant in every state. Known findings (matched by signature) are named with their
    shortest run; any other violation is the shortest there is and is written as a trace.

    Exit 0 when the search completes with only known findings, 1 on another violation, 2 on bad
    input, 3 when a budget (states, memory, depth, time) ends the search first."""
    from model.small import small, small_args
    from properties.explorer import explore as run_explore
    from properties.findings import FINDINGS
    from properties.mutants import ALL_MUTANTS

    with bad_input():
        if mutant is not None and mutant not in ALL_MUTANTS:
            raise SpecError(f"unknown mutant {mutant!r} (known: {', '.join(ALL_MUTANTS)})")
        if config_name is not None:
            given = [f"--{p.replace('_', '-')}" for p in SHAPE_OPTIONS
                     if ctx.get_parameter_source(p) is not click.core.ParameterSource.DEFAULT]  # fmt: skip
            if given:
                raise SpecError(f"--config {config_name} fixes the shape; {', '.join(given)} would be ignored")
            if settings_:
                raise SpecError("--set changes a configuration built from the options, not a named --config")
            initial = SMALL[config_name].build(**({} if kernel is None else {"kernel": kernel}))
        else:
            args = {"cpus": cpus, "nodes": nodes, "sockets": sockets, "skbs": skbs, "defer_max": defer_max,
                    "hotplug": hotplug, "hotplug_flush": hotplug_flush, "sysctl": sysctl, "defer": defer,
                    "close_path": close_path, "kernel": kernel}  # fmt: skip
            initial = small(**{**args, **bounded_settings(settings_, small_args)})
        trace_dir_checked()
        engine_options_checked(ctx, engine)
    if engine == "spin" and (emit_swarm is not None or trails is not None):
        swarm(initial, kernel=kernel, emit=emit_swarm, trails=trails, max_violations=max_violations)
        return
    if engine == "spin":
        explore_spin(initial, kernel=kernel, workers=workers, bitstate=bitstate, hashcompact=hashcompact,
                     bfs=not depth_first, max_violations=max_violations, max_seconds=max_seconds)  # fmt: skip
        return
    memory_mib = max_memory if max_memory is not None else default_max_memory_mib()
    with console.status("exploring...") as status:

        def progress(depth: int, states: int, transitions: int) -> None:
            status.update(f"exploring: depth {depth}, {states:,} states, {transitions:,} transitions")

        with ALL_MUTANTS[mutant].applied() if mutant else nullcontext():
            result = run_explore(initial, max_states=max_states, max_seconds=max_seconds, max_depth=max_depth,
                                 max_memory_bytes=memory_mib * 2**20, progress=progress)  # fmt: skip
    t = table("distinct states", "transitions", "depth", "quiescent states", "seconds", "states/s", "peak memory")
    t.add_row(f"{result.distinct_states:,}", f"{result.transitions:,}", str(result.depth),
              f"{result.quiescent_states:,}", f"{result.seconds:.2f}", f"{result.states_per_second:,.0f}",
              f"{result.peak_memory_bytes / 2**20:.0f} MiB")  # fmt: skip
    console.print(t)
    for fid, known in result.findings:
        where = "at quiescence after" if known.quiescent else "at"
        console.print(f"known finding {fid} ({FINDINGS[fid].title}): {known.invariant} {where} step {known.step}, "
                      "shortest", soft_wrap=True)  # fmt: skip
    met = ", ".join(fid for fid, _ in result.findings) or "none"
    cx = result.violation
    if cx is not None:
        from properties.checker import check_run

        with ALL_MUTANTS[mutant].applied() if mutant else nullcontext():
            verdict = check_run(cx.initial, cx.actions)
        expect = check_run(cx.initial, cx.actions) if mutant else verdict
        found_by = "explore" + (f" kernel {kernel}" if kernel else "")
        with bad_input():
            path = traces.record(traces.Trace(cx.initial, cx.actions, found_by=found_by, mutant=mutant,
                                              violation=verdict, expect_on_spec=expect, kernel=kernel))  # fmt: skip
        where = "at quiescence after" if cx.quiescent else "at"
        message = escape(kernel_words(cx.message))
        console.print(f"trace written to {path}; replay it with: tcpclose replay {path}", soft_wrap=True)
        console.print(f"[bold red]FAILED: {cx.invariant} {where} step {cx.step} (shortest): {message}; "
                      f"trace {path}[/bold red]", soft_wrap=True)  # fmt: skip
        sys.exit(VIOLATION)
    if not result.complete:
        console.print(f"[yellow]search incomplete: {result.reason}; known findings met: {met}[/yellow]", soft_wrap=True)
        sys.exit(BUDGET if result.budget_exhausted else BAD_INPUT)
    console.print(f"[green]complete: every invariant holds in all {result.distinct_states:,} states but for known "
                  f"findings; known findings met: {met}[/green]", soft_wrap=True)  # fmt: skip


# -- explore --engine spin (properties/spin/) -----------------------------------------------------

SPIN_ONLY = ("workers", "bitstate", "hashcompact", "depth_first", "max_violations", "emit_swarm", "trails")
PYTHON_ONLY = ("mutant", "max_states", "max_memory", "max_depth")


def engine_options_checked(ctx: click.Context, engine: str) -> None:
    """Each engine's options are refused with the other: one line naming them."""
    wrong = PYTHON_ONLY if engine == "spin" else SPIN_ONLY
    given = [f"--{p.replace('_', '-')}" for p in wrong
             if ctx.get_parameter_source(p) is not click.core.ParameterSource.DEFAULT]  # fmt: skip
    if given:
        raise SpecError(f"{', '.join(given)} cannot be used with --engine {engine}")


def explore_spin(initial: State, *, kernel: str | None, workers: int, bitstate: bool, hashcompact: bool, bfs: bool,
                 max_violations: int, max_seconds: float) -> None:  # fmt: skip
    """``explore --engine spin``: SPIN's search of the Promela rendering; every trail pan writes
    becomes a trace file (replayed and judged by the spec); exit as the Python engine does."""
    from properties.spin.engine import search

    with bad_input(), console.status("compiling and running SPIN..."):
        result = search(initial, bfs=bfs, workers=workers, bitstate=bitstate, hashcompact=hashcompact,
                        max_violations=max_violations, max_seconds=max_seconds)  # fmt: skip
    t = table("distinct states", "transitions", "depth", "seconds", "states/s", "bytes/state", "memory", "mode")
    t.add_row(f"{result.distinct_states:,}", f"{result.edges:,}", str(result.depth), f"{result.seconds:.2f}",
              f"{result.states_per_second:,.0f}" if result.seconds > 0 else "-", f"{result.bytes_per_state:,.0f}",
              f"{result.memory_bytes / 2**20:.0f} MiB", result.mode)  # fmt: skip
    console.print(t)
    if result.coverage:
        console.print(f"bitstate coverage: {result.coverage}", soft_wrap=True)
    report_spin_violations(initial, result.violations, kernel=kernel)
    met = ", ".join(result.findings) or "none"
    if not result.complete:
        console.print(f"[yellow]search partial ({result.mode}): no violation but known findings in the states "
                      f"covered; known findings met: {met}[/yellow]", soft_wrap=True)  # fmt: skip
        sys.exit(BUDGET)
    console.print(f"[green]complete: every invariant SPIN checks holds in all {result.distinct_states:,} states "
                  f"but for known findings; known findings met: {met}[/green]", soft_wrap=True)  # fmt: skip


def report_spin_violations(initial: State, violations: Sequence[SpinViolation], *, kernel: str | None) -> None:
    """Each violation SPIN reported becomes a trace file (replayed and judged by the spec); known
    findings are named, and the first other violation ends the command with exit 1."""
    from properties.checker import check_run
    from properties.findings import FINDINGS

    failed = None
    found_by = "explore spin" + (f" kernel {kernel}" if kernel else "")
    for v in violations:
        verdict = check_run(initial, v.actions)
        with bad_input():
            path = traces.record(traces.Trace(initial, v.actions, found_by=found_by, violation=verdict,
                                              expect_on_spec=verdict, kernel=kernel))  # fmt: skip
        where = "at quiescence after" if v.quiescent else "at"
        if v.finding is not None:
            console.print(f"known finding {v.finding} ({FINDINGS[v.finding].title}): {v.invariant} {where} step "
                          f"{len(v.actions)}; trace {path}", soft_wrap=True)  # fmt: skip
        elif failed is None:
            failed = (v, path)
    if failed is not None:
        v, path = failed
        console.print(f"[bold red]FAILED: {v.invariant} at step {len(v.actions)}: {escape(kernel_words(v.message))}; "
                      f"trace {path}[/bold red]", soft_wrap=True)  # fmt: skip
        sys.exit(VIOLATION)


def swarm(initial: State, *, kernel: str | None, emit: Path | None, trails: Path | None, max_violations: int) -> None:
    """``explore --engine spin --emit-swarm DIR`` writes a swarm's model and member script;
    ``--trails DIR`` judges the trails its members left (exit 1 on a violation no known finding
    explains)."""
    from properties.spin.engine import emit_swarm, read_trails

    if emit is not None and trails is not None:
        with bad_input():
            raise SpecError("--emit-swarm and --trails are two steps: give one")
    if emit is not None:
        with bad_input():
            emit_swarm(initial, emit, max_violations=max_violations)
        console.print(f"wrote {emit / 'model.pml'} and {emit / 'member.sh'}: copy the folder to each machine, run "
                      f"`./member.sh SEED` once per core with a different SEED, bring the run-* folders back "
                      f"and read them with this command and --trails DIR", soft_wrap=True)  # fmt: skip
        return
    assert trails is not None
    with bad_input(), console.status("replaying the trails..."):
        violations = read_trails(initial, trails, max_violations=max_violations)
    report_spin_violations(initial, violations, kernel=kernel)
    met = ", ".join(sorted({v.finding for v in violations if v.finding is not None})) or "none"
    console.print(f"[green]{len(violations)} trail(s): no violation but known findings; known findings met: "
                  f"{met}[/green]", soft_wrap=True)  # fmt: skip


# -- kernels -------------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the kernels as JSON.")
def kernels(as_json: bool) -> None:
    """The named kernels (model/kernels.py): which switches (commits) each has and lacks, and the
    known findings its switches remove; then each switch and what it changes."""
    from model.kernels import KERNELS, SWITCHES

    if as_json:
        click.echo(json.dumps([k.to_json() for k in KERNELS.values()], indent=1))
        return
    kernels_table = table("kernel", "lacks", "fixes", "skb_defer_max", "what")
    for k in KERNELS.values():
        kernels_table.add_row(k.name, ", ".join(k.lacks) or "-", ", ".join(k.fixes) or "-", str(k.defer_max), k.doc)
    console.print(kernels_table)
    switches = table("switch", "commit", "what it changes", "Config when present / absent")
    for s in SWITCHES.values():
        fields = ", ".join(f"{key}={v!r}" for key, v in s.on.items())
        off = s.off
        absent = "not expressible" if off is None else ", ".join(f"{key}={v!r}" for key, v in off.items())
        switches.add_row(s.id, s.title, s.what, f"{fields or '-'} / {absent}")
    console.print(switches)


# -- findings ------------------------------------------------------------------------------------


@main.command()
@click.argument("ids", nargs=-1, metavar="[Fn]...")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of the tables")
@click.option("--markdown", "markdown_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="write one report per finding, Fn.md, into this directory (here: docs/findings)")  # fmt: skip
def findings(ids: tuple[str, ...], as_json: bool, markdown_dir: Path | None) -> None:
    """The known findings as reports: per finding, the promise it breaks, the named kernels where
    its traces reproduce it, its shortest trace (a timeline when one finding is named), live
    evidence, and each candidate fix with its evidence."""
    from properties.dossier import SHOWS, dossier, markdown
    from properties.findings import FINDINGS

    with bad_input():
        unknown = [i for i in ids if i not in FINDINGS]
        if unknown:
            raise SpecError(f"unknown finding {unknown[0]!r} (known: {', '.join(FINDINGS)})")
        if markdown_dir is not None:
            writable_dir(markdown_dir, "--markdown")
        chosen = [dossier(i) for i in (ids or tuple(FINDINGS))]
        if markdown_dir is not None:
            for d in chosen:
                traces.write_text_atomic(markdown_dir / f"{d.id}.md", markdown(d))
    if markdown_dir is not None:
        click.echo(f"wrote {len(chosen)} report(s) to {markdown_dir}")
        return
    if as_json:
        click.echo(json.dumps([d.to_json() for d in chosen], indent=1))
        return
    summary = table("finding", "promise broken", "what", "reproduces on", "fix", "seen live")
    for d in chosen:
        fix = ", ".join(f"{f.switch} ({'clean' if f.clean else f.verdict})" for f in d.fixes) or "none modelled"
        releases = [k for k in d.reproduces_on if not k.startswith("before-")]
        before = len(d.reproduces_on) - len(releases)
        where = ", ".join(releases) + (f" (and {before} before-kernels)" if before else "")
        summary.add_row(d.id, d.invariant, d.title, where or "-", fix,
                        "yes" if d.details.live else "-")  # fmt: skip
    console.print(summary)
    if len(chosen) != 1:
        console.print("tcpclose findings Fn: one finding in full, with its trace step by step")
        return
    d = chosen[0]
    for head, text in (("mechanism", d.details.mechanism), ("impact", d.details.impact),
                       ("conditions", d.details.conditions), ("seen live", d.details.live or "not yet"),
                       ("signature", d.signature)):  # fmt: skip
        console.print(f"[bold]{head}:[/bold] {escape(text)}", soft_wrap=True)
    per_kernel = table("kernel", "shows it", "trace")
    for k in d.kernels:
        per_kernel.add_row(k.kernel, SHOWS[k.shows], k.how + (f"; {k.unexplained} fails" if k.unexplained else ""))
    console.print(per_kernel)
    initial, actions = d.trace
    states = replay_states(initial, list(actions))
    print_timeline(initial, timeline.rows(states, list(actions)), d.verdict, None)
    for f in d.fixes:
        console.print(f"[bold]fix {f.switch}[/bold] ({f.title}): {escape(f.what)}; on {f.kernel}: {f.verdict}",
                      soft_wrap=True)  # fmt: skip
    for how in d.found_by:
        console.print(f"found by {how}", soft_wrap=True)


# -- metrics -------------------------------------------------------------------------------------


@main.command()
@click.argument("scenario_name", metavar="[SCENARIO]", default="attack")
@click.option("--sweep", default=None, metavar="PARAM=V1,V2,...",
              help="sweep N (skbs per socket), K (sockets) or skb_defer_max over these values")  # fmt: skip
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="directory for the CSV, JSON and PNG files (default: tcpclose-metrics)",
)
@click.option("--csv", "as_csv", is_flag=True, help="print CSV instead of the table")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of the table")
@click.option(
    "--costs",
    "cost_profile",
    type=click.Choice(list(COST_PROFILES)),
    default=DEFAULT_COSTS,
    show_default=True,
    help="cost profile (model/costs.py): the nanoseconds each primitive costs on one kind of machine",
)
@click.option(
    "--kernel",
    default=None,
    metavar="NAME",
    help="the named kernel (tcpclose kernels) both close paths run on [default: the scenario's, v6.18]",
)
@renamed("--profile", "--costs", "the cost profile; --profile is check's Hypothesis profile")
def metrics(
    scenario_name: str,
    sweep: str | None,
    out_dir: Path | None,
    as_csv: bool,
    as_json: bool,
    cost_profile: str,
    kernel: str | None,
) -> None:
    """Contention and latency, close-old vs close-new, computed from the spec's own trace:
    attack, defer-max, local, recvmsg, loopback, offline. Writes metrics-SCENARIO.csv and .json
    and the plots (SCENARIO-vs-PARAM.png) into --out."""
    from model.scenarios_metrics import DEFAULT_OUT, metrics_command

    if as_csv and as_json:
        fail("--csv and --json both print to stdout: choose one")
    with bad_input():
        out = out_dir or DEFAULT_OUT
        writable_dir(out, "--out")
        code = metrics_command(scenario_name, sweep, out, "csv" if as_csv else "json" if as_json else "table",
                               cost_profile, progress=sys.stderr.isatty(), out=console,
                               err=make_console(stderr=True), kernel=kernel)  # fmt: skip
    sys.exit(code)


# -- spec-diff -----------------------------------------------------------------------------------


@main.command("spec-diff")
@click.argument("rev", default="HEAD")
@click.option("--timeout", type=Bounded(SPECDIFF_TIMEOUT, float), default=20.0, show_default=True,
              help="seconds crosshair may spend on one function")  # fmt: skip
def spec_diff(rev: str, timeout: float) -> None:
    """Compare the spec's behaviour at REV (default HEAD) with the working tree: crosshair
    diffbehavior on each changed pure rule, then every corpus trace and the small
    configurations replayed through both. Exit 1 when behaviour changed."""
    from properties import specdiff

    sys.exit(specdiff.main(rev, timeout=timeout))


# -- probe ---------------------------------------------------------------------------------------


def _int_list(text: str, what: str) -> tuple[int, ...]:
    values = [x.strip() for x in text.split(",") if x.strip()]
    if len(values) > 32 or not all(v.isdigit() and len(v) <= 10 for v in values):
        raise SpecError(f"{what} takes up to 32 comma-separated non-negative integers, not {text[:40]!r}")
    for v in values:
        if not DEFER_MAX.admits(int(v)):
            raise SpecError(f"{what}: {v}; it must be {DEFER_MAX.describe()}: {DEFER_MAX.reason}")
    return tuple(int(v) for v in values)


@main.command()
@click.option("--pairs", default="0:1", show_default=True, help="sender:closer CPU pairs, e.g. 0:1,1:0")
@click.option(
    "--defer-max",
    "defer_max",
    default="0,2,3,16,64,128",
    show_default=True,
    help="skb_defer_max values to measure (each paired with 0)",
)
@click.option("--sockets", type=Bounded(PROBE_SOCKETS), default=4, show_default=True,
              help="live TCP connections closed per trial")  # fmt: skip
@click.option("--sends", type=Bounded(PROBE_SENDS), default=10, show_default=True, help="1000-byte writes per socket")
@click.option("--reps", type=Bounded(PROBE_REPS), default=5, show_default=True,
              help="repetitions per skb_defer_max value (each paired with one at 0)")  # fmt: skip
@click.option(
    "--json",
    "json_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="also write the measurements and predictions to this file",
)
def probe(pairs: str, defer_max: str, sockets: int, sends: int, reps: int, json_file: Path | None) -> None:
    """Run the attack for real over loopback and hold the spec's prediction against it.

    Needs root and two CPUs; restores net.core.skb_defer_max and tracefs afterwards."""
    from live import probe as live

    with bad_input():
        if json_file is not None:
            writable_dir(json_file.parent, "--json")
        maxes = _int_list(defer_max, "--defer-max")
        cpu_pairs: list[tuple[int, int]] = []
        for pair in pairs.split(","):
            first, _, second = pair.partition(":")
            if not all(x.strip().isdigit() and int(x) < TRACE_CPUS.hi for x in (first, second)):
                raise SpecError(f"--pairs takes A:B pairs of CPU numbers below {TRACE_CPUS.hi}, not {pair[:40]!r}")
            cpu_pairs.append((int(first), int(second)))
        reports = []
        with console.status("probing...") as status, restored_on_signal():
            for a, b in cpu_pairs:

                def progress(message: str, a: int = a, b: int = b) -> None:
                    status.update(f"CPUs {a}:{b}: {message}")

                reports.append(
                    live.probe(a=a, b=b, defer_maxes=maxes, sockets=sockets, sends=sends, reps=reps, progress=progress)
                )
    for report in reports:
        print_probe(report)
    if json_file is not None:
        with bad_input():
            json_file.write_text(json.dumps([attrs.asdict(r) for r in reports], indent=1) + "\n")
    sys.exit(0)


def _purge_cell(row: Any, skbs: int) -> str:
    purge = row.median_purge_ns()
    if purge != purge:  # no tracefs: the purge is not timed apart from close()
        return "-"
    per_close = skbs / max(len(row.trials[0].close_ns), 1)
    return f"{purge / 1000:.1f} ({purge / per_close:.0f})"


def print_probe(report: Any) -> None:
    kicks = "defer IPIs (csd trace)" if report.tracing else "NET_RX runs on A"
    console.print(
        f"[bold]sender CPU {report.a}, closer CPU {report.b}; skb_defer_max was {report.original} (restored); "
        f"truesize per skb {report.truesize}; {report.discarded} trial(s) discarded[/bold]"
    )
    table_ = table("skb_defer_max", "skbs", kicks, "model IPIs", "CAL on A", "close() µs median (range)",
                   "per skb ns", "purge µs (per skb ns)", "vs max 0 (noise)", "model vs max 0", "agrees")  # fmt: skip
    for row in report.rows:
        closes = [t for tr in row.trials for t in tr.close_ns]
        base = row.median_close_ns(row.baseline)
        med = row.median_close_ns(row.trials)
        skbs = row.trials[0].skbs if row.trials else 0
        table_.add_row(
            str(row.defer_max), str(skbs), ", ".join(map(str, row.ipis)),
            f"{row.prediction.ipis_min}-{row.prediction.ipis_max}",
            ", ".join(str(t.cal) for t in row.trials),
            f"{med / 1000:.1f} ({min(closes) / 1000:.1f}-{max(closes) / 1000:.1f})" if closes else "-",
            f"{med * len(row.trials[0].close_ns) / max(skbs, 1):.0f}" if closes else "-",
            _purge_cell(row, skbs),
            f"{row.measured_ratio:.2f}x (±{row.noise:.0%}): {row.measured_direction}"
            if closes and base == base and base > 0 else "-",
            f"{row.predicted_ratio:.2f}x: {row.predicted_direction}",
            ("IPIs yes" if row.agrees else "[bold red]IPIs NO[/bold red]")
            + {None: ", direction inconclusive", True: ", direction yes", False: ", [red]direction NO[/red]"}[
                row.direction_agrees
            ],
        )  # fmt: skip
    console.print(table_)
    for row in report.rows:
        if (why := row.disagreement()) is not None:
            console.print(f"[red]disagrees[/red]: {why}")
    if report.wedged_demo is not None:
        fresh, wedged = report.wedged_demo
        console.print(
            f"cross-CPU close at skb_defer_max {report.original} after closes at 0: {wedged} kick(s) "
            f"without re-arming, {fresh} after re-arming"
            + (" [bold]-> the slot was wedged (finding F5): its count passed the maximum while its list was"
               " empty, and only a flush of a non-empty list resets it[/bold]" if wedged <= 0 < fresh else "")
        )  # fmt: skip
    console.print(
        f"wedged slots found by the re-arm before a trial (F5): {report.wedges_seen}; "
        "still defers after the probe: " + ("yes" if report.defers_after_rearm else "[bold red]no[/bold red]")
    )


@contextmanager
def restored_on_signal() -> Iterator[None]:
    """SIGINT/SIGTERM during a live command: the machine state is already restored (live.machine
    restores before the exception leaves it); one line, and the shell's status for the signal."""
    from live.machine import Interrupted

    try:
        yield
    except Interrupted as stop:
        click.echo(f"tcpclose: {stop}; sysctl, CPUs and tracefs restored", err=True)
        sys.exit(128 + stop.signum)


# -- live ----------------------------------------------------------------------------------------


@main.command("live")
@click.option("--examples", type=Bounded(LIVE_EXAMPLES), default=30, show_default=True, help="generated workloads")
@click.option("--seed", type=Bounded(SEED), default=0, show_default=True,
              help="Hypothesis seed (same seed, same workloads)")  # fmt: skip
@click.option("--hotplug", is_flag=True, help="CPUs may go offline and come back; then race kicks against it (F2)")
@click.option("--shrink-seconds", type=Bounded(LIVE_SHRINK_SECONDS, float), default=45.0, show_default=True,
              help="time to shrink each property's divergence on the live kernel")  # fmt: skip
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where divergence logs and traces go (default: $TCPCLOSE_TRACE_DIR or tcpclose-traces)")  # fmt: skip
def live_command(examples: int, seed: int, hotplug: bool, shrink_seconds: float, out_dir: Path | None) -> None:
    """Hypothesis draws workloads, runs them on this kernel over loopback and holds what the
    trace shows against the spec's runs of the same workload.

    Needs root and two CPUs. Exit 0 when every property holds, 1 on a divergence (shrunk on the
    live kernel, written as a live log and the spec's traces). The sysctl, the CPUs and tracefs
    are restored however it ends."""
    from live.machine import Machine
    from live.run import live

    with bad_input():
        if out_dir is not None:
            writable_dir(out_dir, "--out")
        else:
            trace_dir_checked()
    with bad_input(), restored_on_signal(), console.status("live...") as status:
        report = live(machine=Machine(), examples=examples, seed=seed, hotplug=hotplug,
                      shrink_seconds=shrink_seconds, progress=status.update, out_dir=out_dir)  # fmt: skip
    print_live(report)
    sys.exit(0 if all(p.diverged == 0 for p in report.properties) else 1)


def print_live(report: Any) -> None:
    from live.observe import PROPERTIES

    console.print(
        f"[bold]{report.examples} example(s) run on the kernel ({report.discarded} discarded, {report.runs} live "
        f"runs with confirmations and shrinking) in {report.seconds:.0f} s; skbs of truesize {report.truesize}; "
        f"skb_defer_max was {report.original}[/bold]"
    )
    t = table("property", "what the kernel must show", "examples", "verdict")
    for p in report.properties:
        verdict = "[green]holds[/green]" if p.diverged == 0 else f"[bold red]diverges in {p.diverged}[/bold red]"
        if p.unconfirmed:
            verdict += f" ({p.unconfirmed} unconfirmed: a second run did not show it or was discarded)"
        t.add_row(p.name, PROPERTIES[p.name], str(p.examples), verdict)
    console.print(t)
    for p in report.properties:
        if p.minimal is not None:
            console.print(f"[red]{p.name}[/red] diverges; smallest workload: {p.minimal}")
            console.print(f"  {p.detail}")
            console.print(f"  wrong: {p.blame}")
            for f in p.files:
                console.print(f"  written: {f}")
    console.print("reached: " + "; ".join(f"{name} in {n}" for name, n in report.coverage))
    lo, hi = report.sockstat_delta
    console.print(f"/proc/net/sockstat TCP mem after an example minus before: {lo}..{hi} pages "
                  "(per-CPU reserves make it move only in large steps)")  # fmt: skip
    if report.wedges:
        console.print(f"wedged slots seen (F5) and re-armed: {len(report.wedges)}")
        for (workload, cpu), times in Counter(report.wedges).items():
            console.print(f"  CPU {cpu}" + (f" ({times} runs)" if times > 1 else "") + f" after: {workload}")
    else:
        console.print("wedged slots seen (F5): none")
    if report.hotplug is not None:
        h = report.hotplug
        console.print(f"--hotplug, F2: {h.verdict()} (IPIs to CPU {h.cpu}: {h.ipis_before} before, "
                      f"{h.ipis_during} during, {h.ipis_after} after)")  # fmt: skip
    console.print(
        "restored: skb_defer_max, CPUs online, tracefs" if report.restored
        else "[bold red]the machine state was not restored as found[/bold red]"
    )  # fmt: skip


# -- scenario ------------------------------------------------------------------------------------


@main.command()
@click.argument("name", type=click.Choice(["attack", "recvmsg"]), default="attack")
@click.option("--sockets", type=Bounded(SCENARIO_SOCKETS), default=None,
              help="sockets closed (attack only) [default: 4]")  # fmt: skip
@click.option("--skbs", type=Bounded(SCENARIO_SKBS), default=40, show_default=True,
              help="unread skbs per socket (attack), segments read (recvmsg)")  # fmt: skip
@click.option("--layout", type=click.Choice(list(LAYOUTS)), default="2cpu-1node", show_default=True,
              help="CPU/NUMA layout (model/machines.py); the skbs are built on CPU 0")  # fmt: skip
@renamed("--machine", "--layout", "a CPU/NUMA layout; --machine is check's state machine")
@click.option("--close-cpu", type=Bounded(CPU_ID), default=1, show_default=True,
              help="the CPU that closes (attack) or reads and closes (recvmsg); 0 is the RX CPU itself")  # fmt: skip
@click.option("--defer-max", type=Bounded(DEFER_MAX), default=None,
              help="net.core.skb_defer_max [default: the kernel's, 64]")  # fmt: skip
@click.option("--kernel", "kernel_names", multiple=True, metavar="NAME",
              help="a named kernel to run (tcpclose kernels; repeatable) [default: v6.17 and v6.18]")  # fmt: skip
def scenario(
    name: str, sockets: int | None, skbs: int, layout: str, close_cpu: int, defer_max: int | None,
    kernel_names: tuple[str, ...],
) -> None:  # fmt: skip
    """Run a scenario to quiescence under close-old (v6.17) and close-new (v6.18), or the kernels
    named with --kernel, and compare what each did: the socket outcome, the accounting, and which
    CPU freed what."""
    rows: list[tuple[str, State, int]] = []
    with bad_input():
        for kname in kernel_names:
            named_kernel(kname)  # an unknown name: one line, exit 2
        cpus = len(LAYOUTS[layout].cpu_nodes)
        if close_cpu >= cpus:
            raise SpecError(f"--close-cpu {close_cpu}: layout {layout} has CPUs 0-{cpus - 1}")
        if name == "recvmsg" and sockets is not None:
            raise SpecError("recvmsg runs one socket; --sockets is for attack")
        sockets = 4 if sockets is None else sockets
        if name == "attack" and sockets * skbs > MAX_SKBS_TOTAL:
            raise SpecError(f"--sockets x --skbs = {sockets * skbs} skbs, over the {MAX_SKBS_TOTAL} one run keeps: "
                            f"{SCENARIO_SKBS.reason}")  # fmt: skip
        for kname in kernel_names or ("v6.17", "v6.18"):
            if name == "attack":
                sc = attack(kernel_name=kname, sockets=sockets, skbs=skbs, machine=layout, close_cpu=close_cpu,
                            defer_max=defer_max)  # fmt: skip
            else:
                sc = recvmsg_steady(kernel_name=kname, skbs=skbs, machine=layout, app_cpu=close_cpu)
                if defer_max is not None:
                    sc = attrs.evolve(sc, state=attrs.evolve(sc.state, skb_defer_max=defer_max))
            result = run(sc.state, triggers=sc.triggers, hold=sc.hold)
            rows.append((kname, result.final, len(result.actions)))
    console.print(f"[bold]{sc.doc}[/bold]")
    t = table("", *(f"{k} ({final.config.close_path})" for k, final, _ in rows))
    for label, measure in MEASURES:
        t.add_row(label, *(measure(final, steps) for _, final, steps in rows))
    console.print(t)


def _frees(final: State) -> str:
    frees = Counter(f"CPU {f.cpu} {f.how}" for skb in final.skbs for f in skb.frees)
    return "\n".join(f"{k}: {v}" for k, v in sorted(frees.items())) or "-"


MEASURES: list[tuple[str, Callable[[State, int], str]]] = [
    ("steps", lambda f, n: str(n)),
    ("RST / FIN sent", lambda f, n: f"{sum(s.rst_sent for s in f.sockets)} / {sum(s.fin_sent for s in f.sockets)}"),
    ("TCPABORTONCLOSE", lambda f, n: str(sum(s.TCPABORTONCLOSE for s in f.sockets))),
    ("sk_rmem_alloc (sum)", lambda f, n: str(sum(s.sk_rmem_alloc for s in f.sockets))),
    ("sk_forward_alloc (sum)", lambda f, n: str(sum(s.sk_forward_alloc for s in f.sockets))),
    ("protocol pages held", lambda f, n: str(f.memory_allocated + sum(c.per_cpu_fw_alloc for c in f.cpus))),
    ("frees by CPU and path", lambda f, n: _frees(f)),
    ("skbs left on defer lists", lambda f, n: str(sum(len(s.defer_list) for c in f.cpus for s in c.defer_slots))),
    ("why they wait", lambda f, n: _why_waiting(f)),
]


def _why_waiting(final: State) -> str:
    reasons = Counter(waiting_at_quiescence(final).values())
    return "\n".join(f"{v}: {k}" for k, v in sorted(reasons.items())) or "-"
