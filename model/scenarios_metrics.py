"""The scenarios of the contention and latency report, their sweeps, plots, and ``tcpclose metrics``.

Each scenario is one or more cases (same node / cross node, ...); each case is measured under
close-old and close-new with everything else equal: the kernel's Config (v6.18 by default:
defer-v6, per-node slots, NAPI cache 64/32) with only ``close_path`` changed. So close-old here
is v6.18 with the v6.17 purge loop, and every difference in the table is the purge loop's.

Machine: ``4cpu-2node`` (CPUs 0, 1 on node 0; 2, 3 on node 1) for every scenario, so that the
same-node and the cross-node case differ only in the closing CPU.

Scenarios (``SCENARIOS``):
- attack: K sockets x N unread skbs built on CPU 0, closed on CPU 1 (same node) or 2 (cross),
  the sockets in turn: socket k's packets arrive on CPU 0 after socket k - 1's close, so each
  arrival's NET_RX run first flushes what that close deferred there (FACTS §14);
- burst: the same, every packet arriving before the first close (the arrival flushes find
  nothing: what the last partial epoch leaves waits for other traffic);
- defer-max: the attack at skb_defer_max 0, 1, 2, 64 (v6.18's default) and 128 (v6.19's);
- local: every skb built on the closing CPU (CPU 1 builds and closes);
- recvmsg: the application reads every segment before the next arrives, then closes (close
  finds nothing unread; each arrival flushes the segment read before it);
- loopback: the sender's CPU builds the skbs (CPU 0), the receiver reads half, closes the rest;
- offline: the attack, CPU 0 goes offline half-way through the first close, with and without the
  dev_cpu_dead() flush (06e3f54e8b22).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from model import kernels
from model.costs import DEFAULT_PROFILE, PROFILES
from model.costs import profile as get_profile
from model.limits import DEFER_MAX, MAX_DIGITS, MAX_SKBS_TOTAL
from model.machines import MACHINES
from model.metrics import SUMMARY, Comparison, Metrics, compare, summary_rows, to_csv, to_json
from model.scenarios import LENGTH, TRUESIZE, Scenario, attack, kernel, recvmsg_steady, socket
from spec import Incoming, UserOp, boot
from spec.core import SpecError
from spec.state import CloseVariant

MACHINE = "4cpu-2node"
OUTPUTS = ("table", "csv", "json")
MAX_SWEEP_VALUES = 32  # each value is one run per case, up to a minute each at the largest sizes
DEFAULT_OUT = Path("tcpclose-metrics")


@attrs.frozen
class Params:
    """The knobs a sweep may turn. ``defer_max`` None: the kernel's default."""

    skbs: int = 40
    sockets: int = 4
    defer_max: int | None = None
    kernel: str = "v6.18"

    def with_(self, param: str, value: int) -> Params:
        if param == "skbs":
            return attrs.evolve(self, skbs=value)
        if param == "sockets":
            return attrs.evolve(self, sockets=value)
        return attrs.evolve(self, defer_max=value)

    def items(self) -> tuple[tuple[str, int | None], ...]:
        return (("skbs", self.skbs), ("sockets", self.sockets), ("defer_max", self.defer_max))


Builder = Callable[[Params, CloseVariant], Scenario]


@attrs.frozen
class Case:
    label: str
    build: Builder
    rx_cpu: int = 0  # the CPU that builds the skbs (their defer lists are its own)


@attrs.frozen
class MetricsScenario:
    name: str
    doc: str
    cases: tuple[Case, ...]
    params: frozenset[str]  # the knobs this scenario uses (others are refused in a sweep)
    base: Params = Params()
    # A sweep the table shows by default (defer-max), and the sweeps plotted by default (attack).
    table_sweep: tuple[str, tuple[int, ...]] | None = None
    plot_sweeps: tuple[tuple[str, tuple[int, ...]], ...] = ()


def _attack(
    close_cpu: int, offline: bool = False, hotplug_flush: bool = False, alloc_cpu: int = 0, turns: bool = False
) -> Builder:
    def build(p: Params, path: CloseVariant) -> Scenario:
        cfg, _ = kernel(p.kernel, close_path=path, hotplug_flush=hotplug_flush)
        return attack(
            kernel_name=p.kernel,
            machine=MACHINE,
            sockets=p.sockets,
            skbs=p.skbs,
            alloc_cpu=alloc_cpu,
            close_cpu=close_cpu,
            defer_max=p.defer_max,
            offline_after=max(1, p.skbs // 2) if offline else None,
            config=cfg,
            turns=turns,
        )

    return build


def _recvmsg(app_cpu: int) -> Builder:
    def build(p: Params, path: CloseVariant) -> Scenario:
        cfg, _ = kernel(p.kernel, close_path=path)
        sc = recvmsg_steady(
            kernel_name=p.kernel, machine=MACHINE, skbs=p.skbs, rx_cpu=0, app_cpu=app_cpu, config=cfg, paced=True
        )
        if p.defer_max is None:
            return sc
        return attrs.evolve(sc, state=attrs.evolve(sc.state, skb_defer_max=p.defer_max))

    return build


def _loopback(app_cpu: int) -> Builder:
    """Over loopback the skb is built on the sender's CPU (CPU 0); the receiver on ``app_cpu``
    reads the first half of each socket's segments, then closes with the rest unread."""

    def build(p: Params, path: CloseVariant) -> Scenario:
        cfg, dmax = kernel(p.kernel, close_path=path)
        read = p.skbs // 2
        socks = [
            socket(
                i,
                [Incoming(cpu=0, length=LENGTH, truesize=TRUESIZE) for _ in range(p.skbs)],
                [UserOp("recv", app_cpu, LENGTH) for _ in range(read)] + [UserOp("close", app_cpu)],
                page_size=cfg.page_size,
            )
            for i in range(p.sockets)
        ]
        state = boot(cfg, MACHINES[MACHINE].cpu_nodes, dmax if p.defer_max is None else p.defer_max, socks)
        doc = f"{p.sockets} loopback sockets x {p.skbs} segments sent from CPU 0, {read} read on CPU {app_cpu}"
        return Scenario("loopback", doc, state)

    return build


SAME, CROSS = "same node 0->1", "cross node 0->2"
ATTACK_CASES = (Case(SAME, _attack(1, turns=True)), Case(CROSS, _attack(2, turns=True)))
BURST_CASES = (Case(SAME, _attack(1)), Case(CROSS, _attack(2)))
ALL = frozenset({"skbs", "sockets", "defer_max"})

SCENARIOS: dict[str, MetricsScenario] = {
    s.name: s
    for s in (
        MetricsScenario(
            "attack",
            "K sockets x N unread skbs built on CPU 0 (RX), closed on an application CPU, the sockets in turn",
            ATTACK_CASES,
            ALL,
            plot_sweeps=(
                ("skbs", (1, 5, 10, 20, 40, 80)),
                ("sockets", (1, 2, 4, 8, 16)),
                ("defer_max", (0, 1, 2, 4, 8, 16, 32, 64, 128)),
            ),
        ),
        MetricsScenario(
            "burst",
            "the attack with every packet arriving before the first close",
            BURST_CASES,
            ALL,
        ),
        MetricsScenario(
            "defer-max",
            "the attack at skb_defer_max 0, 1, 2, 64 (v6.18 default) and 128 (v6.19 default)",
            ATTACK_CASES,
            ALL,
            table_sweep=("defer_max", (0, 1, 2, 64, 128)),
        ),
        MetricsScenario(
            "local",
            "every skb built on the closing CPU (CPU 1 receives and closes)",
            (Case("all on CPU 1", _attack(close_cpu=1, alloc_cpu=1), rx_cpu=1),),
            ALL,
        ),
        MetricsScenario(
            "recvmsg",
            "one socket whose application reads every segment before the next arrives, then closes: nothing unread",
            (Case(SAME, _recvmsg(1)), Case(CROSS, _recvmsg(2))),
            frozenset({"skbs", "defer_max"}),
        ),
        MetricsScenario(
            "loopback",
            "loopback: skbs built on the sender's CPU 0, half read on the receiver's CPU, then close",
            (Case(SAME, _loopback(1)), Case(CROSS, _loopback(2))),
            ALL,
        ),
        MetricsScenario(
            "offline",
            "the attack; CPU 0 (the skbs' owner) goes offline half-way through the first close",
            (
                Case("v6.18 (dev_cpu_dead leaves the slots)", _attack(1, offline=True)),
                Case("with 06e3f54e8b22 (dev_cpu_dead flushes)", _attack(1, offline=True, hotplug_flush=True)),
            ),
            ALL,
        ),
    )
}


ALIASES = {"n": "skbs", "skbs": "skbs", "k": "sockets", "sockets": "sockets"}
ALIASES |= {"defer_max": "defer_max", "skb_defer_max": "defer_max", "defer-max": "defer_max"}


def scenario(name: str) -> MetricsScenario:
    if name not in SCENARIOS:
        raise SpecError(f"unknown metrics scenario {name!r} (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[name]


def parse_sweep(text: str, sc: MetricsScenario) -> tuple[str, tuple[int, ...]]:
    """``PARAM=V1,V2,...`` -> (param, values); SpecError with one line for anything else."""
    name, sep, values = text.partition("=")
    param = ALIASES.get(name.strip().lower())
    if not sep or param is None:
        raise SpecError(f"--sweep wants PARAM=V1,V2,... with PARAM one of N, K, skb_defer_max (got {text!r})")
    if param not in sc.params:
        raise SpecError(f"scenario {sc.name} has no parameter {param}")
    parts = values.split(",")
    if len(parts) > MAX_SWEEP_VALUES or any(len(v.strip()) > MAX_DIGITS for v in parts):
        raise SpecError(f"--sweep takes at most {MAX_SWEEP_VALUES} values of up to {MAX_DIGITS} digits: each is a run")
    try:
        vals = tuple(int(v) for v in parts)
    except ValueError:
        raise SpecError(f"--sweep values must be integers separated by commas (got {values[:40]!r})") from None
    for v in vals:
        check(sc.base.with_(param, v))
    return param, vals


def check(p: Params) -> None:
    """Refuse values the model cannot run (or cannot run in time)."""
    if p.skbs < 0:
        raise SpecError(f"N (skbs per socket) must be >= 0, not {p.skbs}")
    if p.sockets < 1:
        raise SpecError(f"K (sockets) must be >= 1, not {p.sockets}")
    if p.defer_max is not None and not DEFER_MAX.admits(p.defer_max):
        raise SpecError(f"skb_defer_max is {p.defer_max}; it must be {DEFER_MAX.describe()}: {DEFER_MAX.reason}")
    if p.skbs * p.sockets > MAX_SKBS_TOTAL:
        raise SpecError(f"N x K = {p.skbs * p.sockets} skbs is more than the model runs ({MAX_SKBS_TOTAL})")


def measure_case(sc: MetricsScenario, case: Case, p: Params, profile: str) -> Comparison:
    check(p)
    return compare(
        lambda path: case.build(p, path),
        scenario=sc.name,
        case=case.label,
        params=p.items(),
        profile=profile,
    )


Sweep = list[tuple[int, Comparison]]


def run_sweep(
    sc: MetricsScenario, param: str, values: Sequence[int], profile: str, tick: Callable[[], None] = lambda: None
) -> Sweep:
    out: Sweep = []
    for v in values:
        p = sc.base.with_(param, v)
        for case in sc.cases:
            out.append((v, measure_case(sc, case, p, profile)))
            tick()
    return out


# -- plots ---------------------------------------------------------------------------------------


@attrs.frozen
class Panel:
    """One metric of a plot: its title, its y label (with the unit), how to read it from a run,
    and a note under the title (None: none)."""

    title: str
    ylabel: str
    get: Callable[[Metrics, int], float | None]  # (metrics, the RX CPU) -> value
    modelled_time: bool = False  # nanoseconds from the cost profile, not counts of the spec's own steps
    note: str | None = None


def _per_skb(name: str) -> Callable[[Metrics, int], float | None]:
    return lambda m, rx: m.per_skb(m.total(name))


PANELS = (
    Panel("remote frees per unread skb", "frees by another CPU / skb", _per_skb("remote_frees")),
    Panel("cache-line transfers per unread skb", "transfers / skb", _per_skb("transfers")),
    Panel("close() time per unread skb", "ns / skb", lambda m, rx: m.per_skb(sum(m.close_ns)), modelled_time=True),
    Panel(
        "softirq time on the RX CPU (moved there by close-new)",
        "µs with BH disabled",
        lambda m, rx: m.per_cpu[rx].bh_ns / 1000,
        modelled_time=True,
    ),
    Panel(
        "skbs left waiting on a defer list",
        "skbs",
        lambda m, rx: m.left_waiting,
        note="pushes after the last flush, below the kick point:\njumps with where that flush fell",
    ),
)
AXIS = {"skbs": "N (unread skbs per socket)", "sockets": "K (sockets)", "defer_max": "skb_defer_max"}


# close-old: a dashed line and hollow squares; close-new: a solid line and filled dots. Each
# later case is drawn smaller, so that series which coincide (a case on top of another, or
# close-new on close-old) stay visible inside one another.
def _style(which: str, n: int) -> dict[str, Any]:
    if which == "old":
        return {"linestyle": "--", "linewidth": 2.6 - n, "marker": "s", "markersize": 11 - 3 * n,
                "markerfacecolor": "none", "markeredgewidth": 1.6}  # fmt: skip
    return {"linestyle": "-", "linewidth": 1.6 - 0.6 * n, "marker": "o", "markersize": 6 - 2 * n}


def plot(sweep: Sweep, param: str, out: Path, profile: str, rx_cpu: int = 0) -> Path:
    """One PNG readable at README width (900 px): a grid with one metric per panel, y labels
    with units, the legend in a panel of its own, every computed point marked, and "model
    estimate, profile P" on every panel whose figures come from the cost profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(3, 2, figsize=(9, 10.5), constrained_layout=True)
    axes = list(grid.flat)
    cases = list(dict.fromkeys(c.case for _, c in sweep))
    for ax, panel in zip(axes, PANELS, strict=False):
        for n, case in enumerate(cases):
            pts = [(v, c) for v, c in sweep if c.case == case]
            xs = [v for v, _ in pts]
            for which in ("old", "new"):
                ys = [panel.get(c.old if which == "old" else c.new, rx_cpu) for _, c in pts]
                ax.plot(xs, [float("nan") if y is None else y for y in ys], color=f"C{n}",
                        label=f"close-{which}, {case}", **_style(which, min(n, 1)))  # fmt: skip
        title = panel.title + (f"\nmodel estimate, profile {profile}" if panel.modelled_time else "")
        ax.set_title(title, fontsize=10)
        if panel.note:
            ax.text(0.02, 0.97, panel.note, transform=ax.transAxes, fontsize=8, va="top", color="0.3")
        ax.set_xlabel(AXIS[param])
        ax.set_ylabel(panel.ylabel)
        if param == "defer_max":
            values = sorted({v for v, _ in sweep})
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xticks(values, [str(v) for v in values], fontsize=8)
            ax.minorticks_off()
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1] * 1.15, 1))
        ax.grid(alpha=0.3)
    legend_ax = axes[len(PANELS)]
    legend_ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", fontsize=9, frameon=False,
                     title="markers: computed points (lines only join them);\n"
                           "series that coincide are drawn inside one another")  # fmt: skip
    name = sweep[0][1].scenario if sweep else "metrics"
    fig.suptitle(f"{name}: close-old vs close-new against {AXIS[param]}\n"
                 f"computed from the spec's own runs; times are model estimates, profile {profile}")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-vs-{param}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -- the report ----------------------------------------------------------------------------------


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}".rstrip("0").rstrip(".")
    return str(v)


def _ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def table(comparisons: list[Comparison], title: str, caption: str) -> Table:
    """Rows: every SUMMARY metric; per case three columns: close-old, close-new, new/old."""
    t = Table(title=title, caption=caption)
    t.add_column("metric")
    for c in comparisons:
        t.add_column(f"{c.case}\nclose-old", justify="right")
        t.add_column("close-new", justify="right")
        t.add_column("new/old", justify="right")
    rows = [summary_rows(c) for c in comparisons]
    for i, (_, label, *_) in enumerate(rows[0]):
        cells: list[str] = []
        for r in rows:
            _, _, old, new, ratio = r[i]
            cells += [_fmt(old), _fmt(new), _ratio(ratio)]
        t.add_row(label, *cells)
    return t


SWEEP_KEYS = (
    "remote_frees_per_skb",
    "transfers_per_skb",
    "close_ns_per_skb",
    "ipis_sent",
    "fallbacks",
    "left_waiting",
    "handoff_p99_ns",
)


def sweep_table(sweep: Sweep, param: str, title: str, caption: str) -> Table:
    """Rows: (value, case); columns: the main metrics, close-old / close-new."""
    labels = {key: label for key, label, _ in SUMMARY}
    t = Table(title=title, caption=caption)
    t.add_column(param, justify="right")
    t.add_column("case")
    for key in SWEEP_KEYS:
        t.add_column(f"{labels[key]}\nold / new", justify="right")
    for v, c in sweep:
        by_key = {key: (old, new) for key, _, old, new, _ in summary_rows(c)}
        t.add_row(str(v), c.case, *(f"{_fmt(by_key[k][0])} / {_fmt(by_key[k][1])}" for k in SWEEP_KEYS))
    return t


def costs_line(profile: str) -> str:
    p = get_profile(profile)
    return (
        f"profile {p.name}: {p.description}. ns: atomic {p.atomic_local.ns:g}, line transfer "
        f"{p.transfer_node.ns:g} same node / {p.transfer_xnode.ns:g} other node, skb free "
        f"{p.skb_release.ns + p.slab_free_local.ns:g} local / {p.skb_release.ns + p.slab_free_remote_node.ns:g} "
        f"remote, NAPI put {p.napi_put.ns:g}, IPI {p.ipi_send.ns:g} send + {p.ipi_latency.ns:g} latency + "
        f"{p.ipi_receive.ns:g} handler (sources: model/costs.py, JSON output)"
    )


def metrics_command(
    scenario_name: str,
    sweep: str | None,
    out_dir: Path,
    fmt: str,
    profile: str = DEFAULT_PROFILE,
    progress: bool = True,
    out: Console | None = None,
    err: Console | None = None,
    kernel: str | None = None,
) -> int:
    """``tcpclose metrics [SCENARIO] [--sweep PARAM=V1,V2] [--out DIR] [--csv|--json] [--profile P]``.

    Prints the table (or CSV/JSON) on stdout; writes ``metrics-<scenario>.csv``/``.json`` and the
    PNG plots to ``out_dir``; messages go to stderr. Bad input raises SpecError before any run."""
    sc = scenario(scenario_name)
    if kernel is not None:  # both close paths on that kernel's switches (its other switches kept)
        kernels.kernel(kernel)
        sc = attrs.evolve(sc, base=attrs.evolve(sc.base, kernel=kernel))
    if fmt not in OUTPUTS:
        raise SpecError(f"unknown output format {fmt!r} (known: {', '.join(OUTPUTS)})")
    if profile not in PROFILES:
        get_profile(profile)
    table_sweep = parse_sweep(sweep, sc) if sweep is not None else sc.table_sweep
    plot_sweeps = [table_sweep] if table_sweep is not None else list(sc.plot_sweeps)
    check(sc.base)
    out = out or Console()
    err = err or Console(stderr=True)
    t0 = time.perf_counter()
    total = len(sc.cases) * (int(table_sweep is None) + sum(len(v) for _, v in plot_sweeps))
    sweeps: dict[str, Sweep] = {}
    with Progress(console=err, transient=True, disable=not progress) as bar:
        task = bar.add_task(f"metrics {sc.name}", total=total)

        def tick() -> None:
            bar.advance(task)

        base: list[Comparison] = []
        if table_sweep is None:  # a sweep's table replaces the single point
            base = [measure_case(sc, case, sc.base, profile) for case in sc.cases]
            bar.advance(task, len(sc.cases))
        for param, values in plot_sweeps:
            sweeps[param] = run_sweep(sc, param, values, profile, tick)
    t_runs = time.perf_counter() - t0
    everything = base + [c for s in sweeps.values() for _, c in s]
    caption = costs_line(profile)
    if fmt == "csv":
        print(to_csv(everything), end="")
    elif fmt == "json":
        print(to_json(everything, profile), end="")
    else:
        out.print(f"[bold]{sc.name}[/bold]: {sc.doc}; base N={sc.base.skbs}, K={sc.base.sockets}, "
                  f"kernel {sc.base.kernel}, profile [bold]{profile}[/bold]")  # fmt: skip
        if table_sweep is not None:
            param = table_sweep[0]
            out.print(sweep_table(sweeps[param], param, f"{sc.name}: sweep of {param}", caption))
        else:
            out.print(table(base, f"{sc.name}: close-old vs close-new", caption))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"metrics-{sc.name}.csv", out_dir / f"metrics-{sc.name}.json"]
    written[0].write_text(to_csv(everything))
    written[1].write_text(to_json(everything, profile))
    t1 = time.perf_counter()
    written += [plot(s, param, out_dir, profile, sc.cases[0].rx_cpu) for param, s in sweeps.items()]
    t_plots = time.perf_counter() - t1
    err.print(f"runs {t_runs:.1f} s, plots {t_plots:.1f} s; wrote " + ", ".join(str(p) for p in written))
    return 0
