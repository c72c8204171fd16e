"""``tcpclose``: the command line, a thin front door over spec/, model/ and properties/.

Exit status: 0 everything holds (or, for ``replay``, the trace no longer violates anything);
1 a violation; 2 bad input (one line on stderr, never a traceback, no file touched).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click
from rich.console import Console
from rich.table import Table

from model.scenarios import attack, recvmsg_steady
from model.scheduler import replay as replay_states
from model.scheduler import run
from properties import timeline, traces
from properties.traces import TraceError
from spec import SpecError, State

console = Console()


def fail_usage(message: str) -> NoReturn:
    click.echo(f"tcpclose: {message}", err=True)
    sys.exit(2)


@contextmanager
def bad_input() -> Iterator[None]:
    """Turn the spec's and the trace reader's errors into one line and exit status 2."""
    try:
        yield
    except (TraceError, SpecError) as err:
        fail_usage(str(err))


def entry() -> None:
    """The console script: click's usage errors become one line and exit status 2 too."""
    try:
        main.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:  # a bare ``tcpclose``: show the help
        click.echo(err.format_message())
    except click.Abort:
        fail_usage("aborted")
    except click.ClickException as err:
        fail_usage(err.format_message().replace("\n", " "))


@click.group()
@click.version_option(package_name="tcpclose")
def main() -> None:
    """Verify and measure how Linux frees a closing TCP socket's unread receive buffers.

    \b
    tcpclose check              run every state machine, say what holds
    tcpclose replay FILE        re-run a trace step by step, CPU by CPU
    tcpclose explore            every interleaving of a small configuration
    tcpclose spec-diff [REV]    did my edit of the spec change its behaviour?
    tcpclose scenario attack    close-old and close-new side by side
    tcpclose metrics attack     what each free path costs: atomics, transfers, IPIs, time
    tcpclose probe              the attack on this kernel, beside the spec's prediction
    """


# -- check ---------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--profile",
    type=click.Choice(["dev", "ci", "thorough"]),
    default=None,
    help="Hypothesis profile (default: $TCPCLOSE_PROFILE, else ci).",
)
@click.option("--seed", type=int, default=None, help="Random seed (the ci profile is derandomized otherwise).")
@click.option("--max-examples", type=click.IntRange(min=1), default=None, help="Examples per machine.")
@click.option("--machine", "machines", multiple=True, help="Only these machines (close, race, hotplug).")
def check(profile: str | None, seed: int | None, max_examples: int | None, machines: tuple[str, ...]) -> None:
    """Run every state machine and the known-finding traces, then print what holds.

    Each invariant is checked after every step of every example; a failure writes a trace file
    (replay it with ``tcpclose replay``) and the command exits 1."""
    from properties import checkrun

    with bad_input():
        report = checkrun.run_all(
            profile=profile, seed=seed, max_examples=max_examples, machines=machines or None, console=console
        )
    console.print(checkrun.summary_table(report))
    console.print(checkrun.coverage_table(report))
    console.print(checkrun.findings_table(report))
    sys.exit(0 if report.ok else 1)


# -- replay --------------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the timeline and verdict as JSON.")
@click.option("--without-mutant", is_flag=True, help="Replay on the unmodified spec even if the trace names a mutant.")
def replay(file: Path, as_json: bool, without_mutant: bool) -> None:
    """Re-run a trace with the spec's own step function and tell it as a timeline.

    Exit 1 when the recorded violation (or any other) shows, 0 when the trace now passes."""
    from properties.mutants import ALL_MUTANTS

    with bad_input():
        trace = traces.load(file)
        verdict = traces.replay(trace, with_mutant=not without_mutant)
        mutant = ALL_MUTANTS[trace.mutant] if trace.mutant and not without_mutant else None
        with mutant.applied() if mutant else nullcontext():
            states = replay_states(trace.initial, trace.actions)
    rows = timeline.rows(states, trace.actions)
    waiting = waiting_at_quiescence(states[-1]) if verdict.quiescent else {}
    if as_json:
        click.echo(json.dumps({
            "file": str(file), "mutant": mutant.name if mutant else None,
            "rows": [{"step": r.step, "action": r.action, "cpu": r.cpu, "changes": list(r.changes)} for r in rows],
            "violation": None if verdict.holds else {
                "invariant": verdict.invariant, "step": verdict.step, "message": verdict.message,
                "quiescent": verdict.quiescent},
            "waiting_at_quiescence": {str(k): v for k, v in waiting.items()},
        }, indent=1))  # fmt: skip
    else:
        print_timeline(trace.initial, rows, verdict, mutant.name if mutant else None)
        for skb_id, why in waiting.items():
            console.print(f"skb {skb_id} still waits at {states[-1].skbs[skb_id].where}: {why}")
    sys.exit(0 if verdict.holds else 1)


def waiting_at_quiescence(final: State) -> dict[int, str]:
    """Why each skb still on a defer slot at the end of a quiescent run waits there."""
    from properties.invariants import waiting_reasons

    return {k: v or "no reason the kernel allows" for k, v in waiting_reasons(final).items()}


def print_timeline(initial: State, rows: list[timeline.Row], verdict: Any, mutant: str | None) -> None:
    cfg = initial.config
    console.print(
        f"[bold]{len(initial.cpus)} CPUs (nodes {[c.node for c in initial.cpus]}), "
        f"{len(initial.sockets)} socket(s), {cfg.close_path}, {cfg.defer}, unread test {cfg.unread_test}, "
        f"hotplug flush {'on' if cfg.hotplug_flush else 'off'}, skb_defer_max {initial.skb_defer_max}"
        + (f", mutant {mutant}" if mutant else "")
        + "[/bold]"
    )
    table = Table("step", *(f"CPU {c.id}" for c in initial.cpus), "env", "what changed", show_lines=False)
    for r in rows:
        cells = ["" for _ in initial.cpus]
        env = ""
        if r.cpu is None:
            env = r.action
        else:
            cells[r.cpu] = r.action
        bad = not verdict.holds and r.step == verdict.step
        style = "bold red" if bad else None
        table.add_row(str(r.step), *cells, env, "\n".join(r.changes) or "-", style=style)
    console.print(table)
    if verdict.holds:
        console.print(
            f"[green]holds: no invariant fails in {len(rows)} steps"
            + (" (quiescent)" if verdict.quiescent else "")
            + "[/green]"
        )
    else:
        where = "at quiescence after" if verdict.quiescent else "at"
        console.print(
            f"[bold red]✗ {verdict.invariant} fails {where} step {verdict.step}: {verdict.message}[/bold red]"
        )


# -- explore -------------------------------------------------------------------------------------


@main.command()
@click.option("--config", "config_name", default=None, help="A named small configuration (model/small.py).")
@click.option("--cpus", type=int, default=2, show_default=True)
@click.option("--nodes", type=int, default=1, show_default=True)
@click.option("--sockets", type=int, default=1, show_default=True)
@click.option("--skbs", type=int, default=1, show_default=True, help="unread skbs per socket, built on CPU 0")
@click.option("--defer-max", type=int, default=4, show_default=True)
@click.option("--hotplug/--no-hotplug", default=False, help="one CPU may go offline and come back")
@click.option("--hotplug-flush/--no-hotplug-flush", default=False, help="dev_cpu_dead() empties the slots")
@click.option("--sysctl", type=int, default=None, help="allow one write of skb_defer_max, to this value")
@click.option("--defer", type=click.Choice(["defer-v6", "defer-v2"]), default="defer-v6", show_default=True)
@click.option("--close-path", type=click.Choice(["close-new", "close-old"]), default="close-new", show_default=True)
@click.option("--skip", "skips", multiple=True, help="an invariant not to check (repeatable)")
@click.option("--skip-findings", is_flag=True, help="skip the invariants of the known findings F1-F4")
@click.option("--max-states", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--max-seconds", type=click.FloatRange(min=0), default=600.0, show_default=True)
@click.option("--engine", type=click.Choice(["python", "spin"]), default="python", show_default=True,
              help="the Python explorer, or SPIN on the Promela model (properties/spin/)")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="spin: cores for SPIN's parallel breadth-first search")
@click.option("--bitstate", is_flag=True, help="spin: bitstate (supertrace) search; may miss states, says its coverage")
@click.option("--hashcompact", is_flag=True, help="spin: hash compaction; may miss states, says its coverage")
def explore(
    config_name: str | None, cpus: int, nodes: int, sockets: int, skbs: int, defer_max: int, hotplug: bool,
    hotplug_flush: bool, sysctl: int | None, defer: str, close_path: str, skips: tuple[str, ...],
    skip_findings: bool, max_states: int, max_seconds: float, engine: str, workers: int, bitstate: bool,
    hashcompact: bool,
) -> None:  # fmt: skip
    """Visit every interleaving of a small configuration breadth first, checking every
    invariant in every state; a violation is the shortest there is and is written as a trace.

    Exit 0 when the search completes with no violation, 1 on a violation, 2 on bad input or when
    a budget ends the search first."""
    from model.small import SMALL, small
    from properties.explorer import explore as run_explore
    from properties.findings import FINDINGS
    from properties.invariants import REGISTRY

    with bad_input():
        if config_name is not None:
            if config_name not in SMALL:
                raise SpecError(f"unknown configuration {config_name!r} (known: {', '.join(SMALL)})")
            initial = SMALL[config_name].build()
        else:
            initial = small(cpus=cpus, nodes=nodes, sockets=sockets, skbs=skbs, defer_max=defer_max,
                            hotplug=hotplug, hotplug_flush=hotplug_flush, sysctl=sysctl,
                            defer=defer, close_path=close_path)  # type: ignore[arg-type]  # fmt: skip
        unknown = set(skips) - set(REGISTRY)
        if unknown:
            raise SpecError(f"unknown invariant(s) {', '.join(sorted(unknown))}")
        skip = frozenset(skips) | (frozenset(f.invariant for f in FINDINGS.values()) if skip_findings else frozenset())
        if engine == "python" and (workers > 1 or bitstate or hashcompact):
            raise SpecError("--workers, --bitstate and --hashcompact are options of --engine spin")
        if bitstate and hashcompact:
            raise SpecError("choose --bitstate or --hashcompact, not both")
    if engine == "spin":
        _explore_spin(initial, skip, workers, bitstate, hashcompact, max_states, max_seconds)
        return
    with console.status("exploring...") as status:

        def progress(depth: int, states: int, transitions: int) -> None:
            status.update(f"exploring: depth {depth}, {states:,} states, {transitions:,} transitions")

        result = run_explore(initial, skip=skip, max_states=max_states, max_seconds=max_seconds, progress=progress)
    table = Table("distinct states", "transitions", "depth", "quiescent states", "seconds", "states/s", "peak memory")
    table.add_row(f"{result.distinct_states:,}", f"{result.transitions:,}", str(result.depth),
                  f"{result.quiescent_states:,}", f"{result.seconds:.2f}", f"{result.states_per_second:,.0f}",
                  f"{result.peak_memory_bytes / 2**20:.0f} MiB")  # fmt: skip
    console.print(table)
    cx = result.violation
    if cx is not None:
        from properties.checker import check_run

        path = traces.record(traces.Trace(cx.initial, cx.actions, found_by="explore",
                                          violation=check_run(cx.initial, cx.actions, skip)))  # fmt: skip
        where = "at quiescence after" if cx.quiescent else "at"
        console.print(f"[bold red]✗ {cx.invariant} fails {where} step {cx.step} (shortest): {cx.message}[/bold red]")
        console.print(f"trace written to {path}; replay it with: tcpclose replay {path}")
        sys.exit(1)
    if not result.complete:
        console.print(f"[yellow]search incomplete: {result.reason}[/yellow]")
        sys.exit(2)
    console.print(f"[green]complete: every invariant holds in all {result.distinct_states:,} states[/green]")


def _explore_spin(initial: State, skip: frozenset[str], workers: int, bitstate: bool, hashcompact: bool,
                  max_states: int, max_seconds: float) -> None:  # fmt: skip
    """``explore --engine spin``: the same table and exit codes as the Python explorer."""
    from properties.checker import check_run
    from properties.spin.driver import SpinError, explore_spin, workdir_from_env

    with console.status("SPIN: writing, compiling and running the verifier..."):
        try:
            result = explore_spin(initial, skip=skip, workers=workers, bitstate=bitstate, hashcompact=hashcompact,
                                  max_states=max_states, max_seconds=max_seconds, workdir=workdir_from_env())
        except SpinError as err:
            fail_usage(str(err))
    table = Table("engine", "distinct states", "transitions", "depth", "search seconds", "states/s", "bytes/state")
    rate = result.distinct_states / max(result.search_seconds, 1e-9)
    table.add_row(f"SPIN ({result.mode})", f"{result.distinct_states:,}", f"{result.transitions:,}",
                  str(result.depth), f"{result.search_seconds:.2f}", f"{rate:,.0f}",
                  f"{result.bytes_per_state:.0f}")  # fmt: skip
    console.print(table)
    if result.coverage:
        console.print(f"SPIN's coverage estimate: {result.coverage}")
    cx = result.violation
    if cx is not None:
        path = traces.record(traces.Trace(cx.initial, cx.actions, found_by="explore-spin",
                                          violation=check_run(cx.initial, cx.actions, skip)))  # fmt: skip
        where = "at quiescence after" if cx.quiescent else "at"
        console.print(f"[bold red]✗ {cx.invariant} fails {where} step {cx.step} (shortest): {cx.message}[/bold red]")
        console.print(f"trace written to {path}; replay it with: tcpclose replay {path}")
        sys.exit(1)
    if not result.complete:
        console.print(f"[yellow]search incomplete: {result.reason}[/yellow]")
        sys.exit(2)
    if bitstate or hashcompact:
        console.print(f"[green]no violation in the {result.distinct_states:,} states SPIN stored[/green]")
        return
    console.print(f"[green]complete: every invariant holds in all {result.distinct_states:,} states[/green]")


# -- metrics -------------------------------------------------------------------------------------


@main.command()
@click.argument("scenario_name", metavar="[SCENARIO]", default="attack")
@click.option("--sweep", default=None, metavar="PARAM=V1,V2,...", help="sweep N, K or skb_defer_max")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="directory for the CSV, JSON and PNG files (default: tcpclose-metrics)",
)
@click.option("--csv", "fmt", flag_value="csv", help="print CSV instead of the table")
@click.option("--json", "fmt", flag_value="json", help="print JSON instead of the table")
@click.option(
    "--profile",
    "cost_profile",
    default="intel-2s",
    show_default=True,
    help="cost profile: intel-2s, amd-chiplet, intel-2s-vm",
)
def metrics(scenario_name: str, sweep: str | None, out_dir: Path | None, fmt: str | None, cost_profile: str) -> None:
    """Contention and latency, close-old vs close-new, computed from the spec's own trace:
    attack, defer-max, local, recvmsg, loopback, offline."""
    from model.scenarios_metrics import DEFAULT_OUT, metrics_command

    with bad_input():
        code = metrics_command(scenario_name, sweep, out_dir or DEFAULT_OUT, fmt or "table", cost_profile,
                               progress=sys.stderr.isatty())  # fmt: skip
    sys.exit(code)


# -- spec-diff -----------------------------------------------------------------------------------


@main.command("spec-diff")
@click.argument("rev", default="HEAD")
@click.option("--timeout", type=float, default=20.0, show_default=True,
              help="seconds crosshair may spend on one function")  # fmt: skip
def spec_diff(rev: str, timeout: float) -> None:
    """Compare the spec's behaviour at REV (default HEAD) with the working tree: crosshair
    diffbehavior on each changed pure rule, then every corpus trace and the small
    configurations replayed through both. Exit 1 when behaviour changed."""
    from properties import specdiff

    sys.exit(specdiff.main(rev, timeout=timeout))


# -- probe ---------------------------------------------------------------------------------------


def _int_list(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise SpecError(f"{what} takes comma-separated integers, not {text!r}") from None


@main.command()
@click.option("--pairs", default="0:1", show_default=True, help="sender:closer CPU pairs, e.g. 0:1,1:0")
@click.option(
    "--defer-max",
    "defer_max",
    default="0,2,3,16,64,128",
    show_default=True,
    help="skb_defer_max values to measure (each paired with 0)",
)
@click.option("--sockets", type=int, default=4, show_default=True)
@click.option("--sends", type=int, default=10, show_default=True, help="1000-byte writes per socket (<= 10)")
@click.option("--reps", type=int, default=3, show_default=True)
@click.option(
    "--json",
    "json_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="also write the measurements and predictions to this file",
)
def probe(pairs: str, defer_max: str, sockets: int, sends: int, reps: int, json_file: Path | None) -> None:
    """Run the attack for real over loopback and hold the spec's prediction against it.

    Needs root and two CPUs; restores net.core.skb_defer_max afterwards."""
    from model import probe as live

    with bad_input():
        maxes = _int_list(defer_max, "--defer-max")
        cpu_pairs: list[tuple[int, int]] = []
        for pair in pairs.split(","):
            first, _, second = pair.partition(":")
            if not (first.strip().isdigit() and second.strip().isdigit()):
                raise SpecError(f"--pairs takes A:B CPU pairs, not {pair!r}")
            cpu_pairs.append((int(first), int(second)))
        reports = []
        with console.status("probing...") as status:
            for a, b in cpu_pairs:

                def progress(message: str, a: int = a, b: int = b) -> None:
                    status.update(f"CPUs {a}:{b}: {message}")

                reports.append(
                    live.probe(a=a, b=b, defer_maxes=maxes, sockets=sockets, sends=sends, reps=reps, progress=progress)
                )
    for report in reports:
        print_probe(report)
    if json_file is not None:
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
    table = Table("skb_defer_max", "skbs", kicks, "model IPIs", "CAL on A", "close() µs median (range)",
                  "per skb ns", "purge µs (per skb ns)", "vs max 0", "model vs max 0", "agrees")  # fmt: skip
    for row in report.rows:
        closes = [t for tr in row.trials for t in tr.close_ns]
        base = row.median_close_ns(row.baseline)
        med = row.median_close_ns(row.trials)
        skbs = row.trials[0].skbs if row.trials else 0
        table.add_row(
            str(row.defer_max), str(skbs), ", ".join(map(str, row.ipis)),
            f"{row.prediction.ipis_min}-{row.prediction.ipis_max}",
            ", ".join(str(t.cal) for t in row.trials),
            f"{med / 1000:.1f} ({min(closes) / 1000:.1f}-{max(closes) / 1000:.1f})" if closes else "-",
            f"{med * len(row.trials[0].close_ns) / max(skbs, 1):.0f}" if closes else "-",
            _purge_cell(row, skbs),
            f"{med / base:.2f}x" if closes and base == base and base > 0 else "-",
            f"{row.predicted_ratio:.2f}x",
            ("IPIs yes" if row.agrees else "[bold red]IPIs NO[/bold red]")
            + {None: ", time within noise", True: ", direction yes", False: ", [red]direction NO[/red]"}[
                row.direction_agrees
            ],
        )  # fmt: skip
    console.print(table)
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
        "still defers after the probe: " + ("yes" if report.defers_after_rearm else "[bold red]no[/bold red]")
    )


# -- scenario ------------------------------------------------------------------------------------


@main.command()
@click.argument("name", type=click.Choice(["attack", "recvmsg"]), default="attack")
@click.option("--sockets", type=click.IntRange(min=1), default=4, show_default=True, help="sockets closed (attack)")
@click.option("--skbs", type=click.IntRange(min=0), default=40, show_default=True, help="unread skbs per socket")
@click.option("--machine", default="2cpu-1node", show_default=True, help="CPU/NUMA layout (model/machines.py)")
@click.option("--defer-max", type=int, default=None, help="net.core.skb_defer_max (default: the kernel's)")
def scenario(name: str, sockets: int, skbs: int, machine: str, defer_max: int | None) -> None:
    """Run a scenario to quiescence under close-old (v6.17) and close-new (v6.18) and compare
    what each did: the socket outcome, the accounting, and which CPU freed what."""
    rows: list[tuple[str, State, int]] = []
    with bad_input():
        for kname in ("v6.17", "v6.18"):
            if name == "attack":
                sc = attack(kernel_name=kname, sockets=sockets, skbs=skbs, machine=machine, defer_max=defer_max)
            else:
                sc = recvmsg_steady(kernel_name=kname, skbs=skbs, machine=machine)
            result = run(sc.state, triggers=sc.triggers)
            rows.append((kname, result.final, len(result.actions)))
    console.print(f"[bold]{sc.doc}[/bold]")
    table = Table("", *(f"{k} ({'close-old' if k == 'v6.17' else 'close-new'})" for k, _, _ in rows))
    for label, measure in MEASURES:
        table.add_row(label, *(measure(final, steps) for _, final, steps in rows))
    console.print(table)


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
