"""Properties of the contention and latency model (model/metrics.py) and its report.

Each property is a function that raises AssertionError with a reason, so that the planted-error
test at the end can show that a wrong cost model makes one of them fail.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from model import metrics
from model.costs import DEFAULT_PROFILE, PROFILES, Distance
from model.machines import KERNELS
from model.metrics import Comparison, Metrics, compare, measure
from model.scenarios import Scenario, attack, recvmsg_steady
from model.scenarios_metrics import SCENARIOS, metrics_command, scenario
from model.scheduler import Run, run
from spec import SpecError, State
from spec.state import CloseVariant

Builder = Callable[[CloseVariant], Scenario]


def attack_on(
    machine: str, alloc: int, close: int, skbs: int = 12, sockets: int = 2, defer_max: int | None = None
) -> Builder:
    """A builder for compare(): the attack on ``machine`` with v6.18 and the given close path."""

    def build(path: CloseVariant) -> Scenario:
        cfg = attrs.evolve(KERNELS["v6.18"][0], close_path=path)
        return attack(
            machine=machine,
            alloc_cpu=alloc,
            close_cpu=close,
            skbs=skbs,
            sockets=sockets,
            defer_max=defer_max,
            config=cfg,
        )

    return build


# -- the properties --------------------------------------------------------------------------------


def same_free_work(c: Comparison) -> None:
    """Every skb allocated on the closing CPU: both paths free the same skbs on the same CPUs,
    all locally, with no line transfer, IPI or softirq."""
    for m in (c.old, c.new):
        assert m.total("remote_frees") == 0, "a free counted remote although every skb is local"
        assert m.total("transfers") == 0, f"{m.total('transfers')} line transfers with one CPU at work"
        assert m.total("ipis_sent") == m.total("softirq_runs") == 0, "an IPI or softirq with nothing deferred"
    for a, b in zip(c.old.per_cpu, c.new.per_cpu, strict=True):
        assert a.local_frees == b.local_frees, f"CPU {a.cpu}: {a.local_frees} vs {b.local_frees} local frees"
    assert c.old.frees == c.new.frees == c.old.unread_skbs


def defer_max_zero_like_old(c: Comparison) -> None:
    """skb_defer_max 0: close-new frees exactly where close-old does, and pays only the failed
    attempts' counter increments on top (one atomic each, every attempt a "full" fallback)."""
    for a, b in zip(c.old.per_cpu, c.new.per_cpu, strict=True):
        assert (a.local_frees, a.remote_frees) == (b.local_frees, b.remote_frees), f"CPU {a.cpu} frees differently"
    n = c.old.unread_skbs
    assert dict(c.new.fallbacks) == {"full": n}, f"fallbacks {c.new.fallbacks}, expected {n} full"
    assert c.new.total("atomics") - c.old.total("atomics") == n, "extra atomics are not one per failed attempt"
    assert c.new.total("ipis_sent") == 0 and c.new.left_waiting == 0 and c.new.peak_defer_bytes == 0


def no_cross_node(m: Metrics) -> None:
    assert m.total("transfers_xnode") == 0, f"{m.total('transfers_xnode')} cross-node transfers on one node"
    assert m.total("remote_frees_xnode") == 0


def every_free_once(r: Run, m: Metrics) -> None:
    """Every FreeEvent of the trace is counted exactly once, on the CPU that did it."""
    events = Counter(ev.cpu for skb in r.final.skbs for ev in skb.frees)
    assert m.frees == sum(events.values())
    for c in m.per_cpu:
        assert c.local_frees + c.remote_frees == events.get(c.cpu, 0), f"CPU {c.cpu}: frees miscounted"
    freed = {skb.id for skb in r.final.skbs if skb.frees}
    assert len(m.handoff_ns) <= len(freed)


# -- tests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("machine", ["2cpu-1node", "4cpu-2node"])
def test_all_skbs_on_the_closing_cpu_same_free_work(machine: str) -> None:
    same_free_work(compare(attack_on(machine, 1, 1, skbs=40)))


@pytest.mark.parametrize(("machine", "close"), [("2cpu-1node", 1), ("4cpu-2node", 1), ("4cpu-2node", 2)])
def test_defer_max_zero_frees_like_close_old(machine: str, close: int) -> None:
    defer_max_zero_like_old(compare(attack_on(machine, 0, close, defer_max=0)))


def test_defer_max_zero_extra_traffic_is_real() -> None:
    """The counter traffic of skb_defer_max 0 is visible: close-new's close() costs at least the
    atomic per attempt more than close-old's before the free itself."""
    c = compare(attack_on("2cpu-1node", 0, 1, defer_max=0))
    assert c.new.total("atomics") > c.old.total("atomics")


@pytest.mark.parametrize(("machine", "close"), [("4cpu-2node", 1), ("4cpu-2node", 2), ("2cpu-1node", 1)])
def test_costs_monotone_in_n(machine: str, close: int) -> None:
    prev: list[tuple[float, ...]] | None = None
    for n in (0, 1, 2, 5, 16, 33, 34, 40, 70):
        c = compare(attack_on(machine, 0, close, skbs=n))
        now: list[tuple[float, ...]] = [
            (sum(m.close_ns), m.total("remote_frees"), m.total("transfers"), m.total("busy_ns")) for m in (c.old, c.new)
        ]
        if prev is not None:
            for a, b in zip(now, prev, strict=True):
                assert all(x >= y for x, y in zip(a, b, strict=True)), f"N={n}: {a} < {b}"
        prev = now


@pytest.mark.parametrize("defer_max", [0, 1, 2, 4, 64])
def test_no_cross_node_transfer_with_one_node(defer_max: int) -> None:
    c = compare(attack_on("2cpu-1node", 0, 1, skbs=40, defer_max=defer_max))
    no_cross_node(c.old)
    no_cross_node(c.new)
    paths: tuple[CloseVariant, ...] = ("close-old", "close-new")
    for path in paths:
        cfg = attrs.evolve(KERNELS["v6.18"][0], close_path=path)
        no_cross_node(measure(run(recvmsg_steady(config=cfg).state)))


def test_cross_node_case_does_cross() -> None:
    """The converse, so that the property above is not vacuous."""
    c = compare(attack_on("4cpu-2node", 0, 2))
    assert c.old.total("transfers_xnode") > 0 and c.old.total("remote_frees_xnode") == c.old.unread_skbs


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_free_counted_once(name: str) -> None:
    sc = scenario(name)
    for case in sc.cases:
        p = sc.base.with_("skbs", 20)
        paths: tuple[CloseVariant, ...] = ("close-old", "close-new")
        for path in paths:
            built = case.build(p, path)
            r = run(built.state, triggers=built.triggers)
            every_free_once(r, measure(r))


def test_close_old_frees_at_hand_off_and_remotely() -> None:
    c = compare(attack_on("2cpu-1node", 0, 1, skbs=40))
    assert set(c.old.handoff_ns) == {0.0}
    assert c.old.total("remote_frees") == c.old.unread_skbs == 80
    assert c.new.total("remote_frees") == 0 and c.new.total("ipis_sent") > 0
    assert c.new.frees + c.new.left_waiting == 80


def test_cross_node_costs_more_than_same_node() -> None:
    same = compare(attack_on("4cpu-2node", 0, 1))
    cross = compare(attack_on("4cpu-2node", 0, 2))
    for a, b in ((same.old, cross.old), (same.new, cross.new)):
        assert sum(b.close_ns) > sum(a.close_ns)


def test_measure_is_fast() -> None:
    sc = attack(machine="4cpu-2node")
    r = run(sc.state, triggers=sc.triggers)
    t0 = time.perf_counter()
    measure(r)
    assert time.perf_counter() - t0 < 1.0  # the budget is 0.5 s; slack for loaded CI machines


# -- the cost table and the command ---------------------------------------------------------------


def test_cost_table_has_sources() -> None:
    assert DEFAULT_PROFILE == "intel-2s" and {"intel-2s", "amd-chiplet"} <= set(PROFILES)
    for prof in PROFILES.values():
        figures = prof.figures()
        assert len(figures) >= 14
        for name, f in figures:
            assert f.ns >= 0 and f.confidence in ("H", "L") and f.source, f"{prof.name}.{name}"


@pytest.mark.parametrize(
    ("name", "sweep", "fmt", "profile", "words"),
    [
        ("nosuch", None, "table", "intel-2s", "unknown metrics scenario"),
        ("attack", "N", "table", "intel-2s", "PARAM=V1,V2"),
        ("attack", "X=1,2", "table", "intel-2s", "PARAM=V1,V2"),
        ("attack", "N=1,two", "table", "intel-2s", "integers"),
        ("attack", "N=-1", "table", "intel-2s", ">= 0"),
        ("attack", "K=0", "table", "intel-2s", ">= 1"),
        ("attack", "skb_defer_max=-3", "table", "intel-2s", "from 0 to"),
        ("attack", "N=100000", "table", "intel-2s", "more than the model runs"),
        ("recvmsg", "K=1,2", "table", "intel-2s", "no parameter sockets"),
        ("attack", None, "xml", "intel-2s", "unknown output format"),
        ("attack", None, "table", "arm", "unknown cost profile"),
    ],
)
def test_bad_input_is_one_line(
    name: str, sweep: str | None, fmt: str, profile: str, words: str, tmp_path: Path
) -> None:
    with pytest.raises(SpecError, match=words) as err:
        metrics_command(name, sweep, tmp_path, fmt, profile, progress=False)
    assert "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


def test_command_writes_csv_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert metrics_command("local", "N=1,3", tmp_path, "json", "amd-chiplet", progress=False) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "amd-chiplet" and all(c["source"] for c in doc["costs"])
    assert {c["params"]["skbs"] for c in doc["comparisons"]} == {1, 3}
    csv_text = (tmp_path / "metrics-local.csv").read_text()
    assert csv_text.splitlines()[0].startswith("scenario,case,skbs")
    assert all(",amd-chiplet," in line for line in csv_text.splitlines()[1:])
    png = tmp_path / "local-vs-skbs.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the planted error ------------------------------------------------------------------------------


def test_planted_error_same_cpu_write_charged_as_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cost model that charges a transfer for a write by the line's own CPU must be caught."""
    honest = metrics.transfer_distance

    def planted(state: State, owner: int, cpu: int) -> Distance:
        return "node" if owner == cpu else honest(state, owner, cpu)

    c = compare(attack_on("2cpu-1node", 1, 1, skbs=10))
    same_free_work(c)  # holds with the honest model
    monkeypatch.setattr(metrics, "transfer_distance", planted)
    with pytest.raises(AssertionError, match="line transfers with one CPU"):
        same_free_work(compare(attack_on("2cpu-1node", 1, 1, skbs=10)))
