"""The SPIN engine held equal to the spec (properties/spin/).

Conformance: on each configuration below, SPIN's breadth-first search of the Promela finds exactly
the explorer's distinct states, transitions and depth, and meets the same known findings; every
corpus trace (tests/counterexamples) is taken step by step by the Promela, whose assertions report
exactly the invariants the spec violates along it. Drift: a Config field the generator has not
classified fails a test, and one it refuses is refused in one line. Skipped, with the reason, when
spin or gcc is missing (.ci/run installs both). Each configuration's pan is compiled once (-O0)
and cached by the hash of its model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from model.small import SMALL, small
from properties import invariants, traces
from properties.checker import is_quiescent
from properties.explorer import explore
from properties.spin import promela
from properties.spin.engine import available, follow, search
from spec import Config, SpecError, step

needs_spin = pytest.mark.skipif(available() is not None, reason=f"SPIN engine unavailable: {available()}")

CORPUS = Path(__file__).parent / "counterexamples"

# name -> small() arguments. Together: hotplug (with and without the flush, two nodes), sysctl
# writes, unrelated NET_RX, migrations, two sockets, defer-v2, close-old, the error queue and
# SO_RESERVE_MEM, SO_LINGER and fclones, the page pool, TX completions, zero-copy, and every named
# kernel of model/kernels.py (all of them are rendered: history kernels and candidate fixes too).
CONFIGS: dict[str, dict[str, Any]] = {
    "hotplug": dict(skbs=2, defer_max=3, hotplug=True),
    "hotplug-flush-2node": dict(nodes=2, skbs=2, defer_max=3, hotplug=True, hotplug_flush=True),
    "sysctl": dict(skbs=3, defer_max=4, sysctl=2),
    "netrx": dict(skbs=2, defer_max=3, netrx_raises=2),
    "migrations": dict(cpus=3, skbs=2, defer_max=3, migrations=1),
    "two-sockets": dict(sockets=2, skbs=1, defer_max=3, cpus=3),
    "defer-v2": dict(skbs=3, defer="defer-v2", defer_max=3, netrx_raises=1),
    "close-old": dict(skbs=2, close_path="close-old", hotplug=True),
    "errqueue-recv": dict(skbs=2, errqueue=True, recv=1000, reserved_pages=1, mem_pcpu_rsv=1),
    "linger-fclone": dict(skbs=2, linger0=True, fclone=True, bare_fin=True, napi_cache=(2, 1)),
    "len-sum-retransmit": dict(skbs=1, recv=1448, retransmit_fin=True, unread_test="len_sum"),
    "voluntary": dict(skbs=2, defer_max=3, hotplug=True, preempt="voluntary", migrations=1),
}
NAMED = ("acceptance", "page-pool", "tx-producer", "wedge", "zcopy")
KERNEL_SHAPE: dict[str, Any] = dict(skbs=2, defer_max=3, hotplug=True)
# Where a candidate fix or a switch of history changes what happens: (configuration, kernel, the
# kernel it differs from; "": the configuration's own switches). The configurations are
# model/small.py's (model/fixes.py EVIDENCE names them), or these shapes: one socket's reset window
# (F6 in 330 states on v7.3), a listener's close with its error queue charged (F1 through
# fix-F1-purge-errqueue's listener branch), close-new's purge with tcp_sock_rfree()'s plain update
# (no named kernel has both: before-f278b6d5bb46 closes with close-old), and close-new's kicks
# without the IPI guard (before-97e719a82b43 closes with close-old): two producers on one CPU, one
# holding it inside smp_call_function_single_async(), and a kick whose IPI the CPU offline loses;
# and three skbs at skb_defer_max 3 with one unrelated NET_RX, where fix-F11's subtracting flush
# leaves a count that a later increment's kick decision reads.
SHAPES: dict[str, dict[str, Any]] = {
    "reset-window-1": dict(skbs=3, defer_max=2, netrx_raises=1),
    "listen-errqueue": dict(skbs=0, sk_state="LISTEN", errqueue=True),
    "rfree-close": dict(skbs=2, defer_max=3, hotplug=True, rmem_atomic=False),
    "guardless-2sock": dict(sockets=2, skbs=1, defer_max=3, migrations=1, ipi_guard=False),
    "guardless-hotplug": dict(skbs=2, defer_max=3, hotplug=True, ipi_guard=False),
    "straggler-netrx": dict(skbs=3, defer_max=3, netrx_raises=1),
}
SWITCHED: tuple[tuple[str, str, str], ...] = (
    ("wedge-race", "v7.3+fix-F5-test-before-increment", "v7.3"),
    ("wedge-race", "v7.3+fix-F5-increment-below-max", "v7.3"),
    ("acceptance", "v7.3+fix-F7-defer-preempt-off", "v7.3"),
    ("page-pool", "v7.3+fix-F2-page-pool-cpus-read-lock", "v7.3"),
    ("errqueue", "v7.3+fix-F1-purge-errqueue", "v7.3"),
    ("listen-errqueue", "v7.3+fix-F1-purge-errqueue", "v7.3"),
    ("errqueue", "v7.3+fix-F1-errqueue-closed", "v7.3"),
    ("reset-window-1", "v7.3+fix-F6-detach-before-reset", "v7.3"),
    ("reset-window-1", "v7.3+fix-F6-flush-resets-empty", "v7.3"),
    ("straggler", "v7.3+fix-F11-flush-subtracts-detached", "v7.3"),
    ("straggler-netrx", "v7.3+fixes", "v7.3+fix-F11-flush-subtracts-detached"),
    ("rfree-close", "", "v6.18"),
    ("guardless-2sock", "", "v6.18"),
    ("guardless-hotplug", "", "v6.18"),
)


def _kernels() -> list[str]:
    """One named kernel per distinct Config (kernels with the same switches give the same model)."""
    from model.kernels import KERNELS

    seen: dict[Config, str] = {}
    for name in KERNELS:
        seen.setdefault(small(**KERNEL_SHAPE, kernel=name).config, name)
    return list(seen.values())


def _same(initial: Any) -> Any:
    py = explore(initial)
    assert py.complete, py.reason
    sp = search(initial, quick=True)
    assert sp.complete
    assert (sp.distinct_states, sp.edges, sp.depth) == (py.distinct_states, py.transitions, py.depth)
    assert sp.findings == tuple(fid for fid, _ in py.findings)
    assert sp.unexplained is None
    return py


@needs_spin
@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_states_and_depth(name: str) -> None:
    _same(small(**CONFIGS[name]))


@needs_spin
@pytest.mark.parametrize("name", NAMED)
def test_same_on_named_configurations(name: str) -> None:
    _same(SMALL[name].build())


@needs_spin
@pytest.mark.parametrize("kernel", _kernels())
def test_same_on_every_kernel(kernel: str) -> None:
    _same(small(**KERNEL_SHAPE, kernel=kernel))


def _build(name: str, kernel: str) -> Any:
    kw: dict[str, Any] = {"kernel": kernel} if kernel else {}
    return SMALL[name].build(**kw) if name in SMALL else small(**SHAPES[name], **kw)


@needs_spin
@pytest.mark.parametrize(("name", "kernel", "other"), SWITCHED, ids=[f"{n}-{k or 'own'}" for n, k, _ in SWITCHED])
def test_same_where_the_switch_matters(name: str, kernel: str, other: str) -> None:
    """Conformance on a configuration where the kernel's switches change the states or the findings."""
    py = _same(_build(name, kernel))
    base = explore(_build(name, other))
    ids = [fid for fid, _ in py.findings], [fid for fid, _ in base.findings]
    assert (py.distinct_states, ids[0]) != (base.distinct_states, ids[1])


def _history() -> list[Any]:
    """The bugs of history (model/kernels.py HISTORY) that break an invariant before their fix."""
    from model.kernels import HISTORY

    return [h for h in HISTORY if h.violation_before]


@needs_spin
@pytest.mark.parametrize("h", _history(), ids=lambda h: h.before)
def test_history_bug_met_as_the_explorer_meets_it(h: Any) -> None:
    """On the bug's configuration, the kernel before the fix: SPIN's first violation no known finding
    explains is the explorer's (the invariant the bug breaks, at the same depth); after the fix
    both engines explore the same states."""
    initial = SMALL[h.config].build(kernel=h.before)
    py = explore(initial).violation
    sp = search(initial, quick=True).unexplained
    assert py is not None and sp is not None
    assert (sp.invariant, len(sp.actions)) == (py.invariant, len(py.actions)) == (h.violation_before, h.steps)
    _same(SMALL[h.config].build(kernel=h.after))


def _spec_violations(t: traces.Trace) -> set[str]:
    """The rendered invariants the spec violates along the run, as the explorer checks them:
    state and transition invariants at every step, liveness in every quiescent state."""
    out: set[str] = set()
    states = [t.initial]
    for a in t.actions:
        states.append(step(states[-1], a))
        out |= {n for n, _ in invariants.transition_violations(states[-2], a, states[-1])}
    for s in states:
        out |= {n for n, _ in invariants.state_violations(s)}
        if is_quiescent(s):
            out |= {n for n, _ in invariants.quiescent_violations(s)}
    return out & set(promela.INVARIANTS)


@needs_spin
@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
def test_corpus_trace_followed(path: Path) -> None:
    t = traces.load(path)
    followed = follow(t.initial, t.actions)
    assert followed.steps == len(t.actions), f"the Promela refused step {followed.steps + 1}"
    if t.mutant is None:  # a mutant's run is followed on the spec: the spec's own violations
        assert followed.reported == _spec_violations(t)
    else:
        assert followed.reported == _spec_violations(attrs.evolve(t, mutant=None))


@needs_spin
def test_trails_become_traces_replay_shows(tmp_path: Path) -> None:
    """Each trail pan writes, as a trace file, replays with the same known finding."""
    initial = SMALL["acceptance"].build()
    result = search(initial, quick=True)
    assert result.findings == ("F7", "F3", "F2")
    for v in result.violations:
        path = traces.write(traces.Trace(initial, v.actions, found_by="explore spin"), tmp_path / f"{v.finding}.json")
        verdict = traces.replay(traces.load(path))
        assert verdict.holds and v.finding in verdict.findings


def test_spin_options_refused_with_python_engine() -> None:
    from click.testing import CliRunner

    from tcpclose.cli import main

    out = CliRunner().invoke(main, ["explore", "--config", "tiny-1", "--bitstate"])
    assert out.exit_code == 2 and "--bitstate cannot be used with --engine python" in out.output
    out = CliRunner().invoke(main, ["explore", "--config", "tiny-1", "--engine", "spin", "--mutant", "kick_at_half"])
    assert out.exit_code == 2 and "--mutant cannot be used with --engine spin" in out.output


@needs_spin
def test_promela_drift_is_caught() -> None:
    """A Promela that no longer follows the spec fails conformance: here the kick point moved."""
    initial = SMALL["tiny-2"].build()
    good = promela.render(initial)
    bad = good.replace("_count[x] - 1 == ", "_count[x] == ").replace("td_count[0] - 1 == ", "td_count[0] == ")
    assert bad != good
    from properties.spin import engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(promela, "render", lambda *a, **k: bad)
        sp = engine.search(initial, quick=True)
    drifted = sp.distinct_states != explore(initial).distinct_states or sp.unexplained is not None
    assert drifted


def test_every_kernel_is_rendered() -> None:
    """The Promela renders every named kernel of model/kernels.py, the history kernels' switches and
    the candidate fixes included (test_same_on_every_kernel runs each on SPIN); no field is refused."""
    from model.kernels import KERNELS

    assert not promela.REFUSED
    for kernel in KERNELS:
        promela.check_config(small(**KERNEL_SHAPE, kernel=kernel).config)


@needs_spin
def test_subtracting_flush_drift_is_caught() -> None:
    """fix-F11's subtraction rendered as the old reset to 0 fails conformance: the count a later
    increment reads differs (the ghost re-basing alone would not show it)."""
    initial = small(**SHAPES["straggler-netrx"], kernel="v7.3+fixes")
    good = promela.render(initial)
    bad = good.replace("sl_count[sl] = sl_count[sl] - n;", "sl_count[sl] = 0;")
    assert bad != good
    from properties.spin import engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(promela, "render", lambda *a, **k: bad)
        sp = engine.search(initial, quick=True)
    assert sp.distinct_states != explore(initial).distinct_states or sp.unexplained is not None


def test_refused_switch_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A switch the Promela did not render would be refused at its non-default value by ``explore
    --engine spin`` with one line naming it, not a traceback (the path a new Config field takes)."""
    from click.testing import CliRunner

    from tcpclose.cli import main

    monkeypatch.setattr(promela, "KNOWN", promela.KNOWN - {"kick_once_per_epoch"})
    monkeypatch.setattr(promela, "REFUSED", promela.REFUSED | {"kick_once_per_epoch"})
    args = ["explore", "--config", "tiny-1", "--kernel", "v7.3+fix-F8-kick-once-per-epoch", "--engine", "spin"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code != 0 and "does not render Config.kick_once_per_epoch=True" in out.output
    assert "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1


def test_every_config_field_is_classified() -> None:
    fields = {f.name for f in attrs.fields(Config)}
    missing = fields - promela.KNOWN - promela.REFUSED
    assert not missing, f"Config fields the SPIN generator has not classified: {sorted(missing)}"
    assert not (promela.KNOWN & promela.REFUSED)
    assert fields >= promela.KNOWN | promela.REFUSED


def test_unknown_config_field_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promela, "KNOWN", promela.KNOWN - {"zcopy_check"})
    with pytest.raises(SpecError, match=r"does not know Config\.zcopy_check"):
        promela.check_config(Config())
    monkeypatch.setattr(promela, "REFUSED", promela.REFUSED | {"zcopy_check"})
    promela.check_config(Config())  # refused fields are fine at their default
    with pytest.raises(SpecError, match=r"does not render Config\.zcopy_check=True"):
        promela.check_config(Config(zcopy_check=True))


def test_rendered_invariants_exist() -> None:
    """Every invariant is rendered or left out with a reason, never both."""
    assert set(promela.INVARIANTS) <= set(invariants.REGISTRY)
    assert set(promela.INVARIANTS) | set(promela.INVARIANTS_LEFT_OUT) == set(invariants.REGISTRY)
    assert not set(promela.INVARIANTS) & set(promela.INVARIANTS_LEFT_OUT)
