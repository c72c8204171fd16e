"""The SPIN backend (properties/spin/) held equal to the spec and to the Python explorer.

- Counts: on every configuration of ``CONFIGS`` (hotplug with and without the flush, sysctl
  writes, unrelated NET_RX, migrations, two sockets, one CPU, defer-v2, close-old, close-new with
  both hotplug variants: every kernel variant the Promela covers), SPIN's distinct states,
  transitions and depth are the explorer's.
- Violations: with every invariant on, SPIN finds a violation of the same invariant, as short as
  the explorer's, and its trail replays through the spec to that violation (and through
  ``tcpclose replay``, as a trace file).
- Step by step: the corpus traces, and every shortest path of the small configurations, played in
  SPIN's simulator: after every step the enabled actions and every field of the state vector
  are the spec's (promela.encode), and the corpus traces end with the spec's verdict.
- Drift: every mutant of properties/mutants.py is an edit of the spec the Promela does not
  follow; the step-by-step comparison finds each of them.
- Coverage of the state: every field of the spec's records is represented (promela.COVERED), so
  that a new field fails here until the Promela carries it.

Without spin and gcc these tests are skipped (with the reason) unless CI is set: under CI=true
they run, and .ci/run installs SPIN.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from model.small import FOR_MUTANT, SMALL, small
from properties import traces
from properties.checker import check_run
from properties.explorer import explore
from properties.findings import FINDINGS
from properties.invariants import REGISTRY
from properties.mutants import MUTANTS
from properties.spin import driver, promela
from spec import Action, State, enabled, step
from tests.test_replay import tcpclose

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "counterexamples").glob("*.json"))
_absent = driver.missing()
pytestmark = pytest.mark.skipif(
    _absent is not None and os.environ.get("CI") != "true",
    reason=f"SPIN backend: {_absent} (CI=true runs these tests anyway)",
)

ALL = frozenset(REGISTRY)
# The invariants of the findings the hotplug and sysctl configurations reach (F2, F3, F5/F6).
FOUND = frozenset(FINDINGS[f].invariant for f in ("F2", "F3", "F5", "F6"))

CONFIGS: dict[str, Callable[[], State]] = {
    "tiny-1": SMALL["tiny-1"].build,
    "acceptance": SMALL["acceptance"].build,
    "hotplug-no-flush-sysctl": lambda: small(cpus=2, nodes=2, skbs=3, hotplug=True, sysctl=2),
    "two-sockets": lambda: small(cpus=2, nodes=1, sockets=2, skbs=2, defer_max=3),
    "3cpu-2node-migrate": lambda: small(cpus=3, nodes=2, sockets=1, skbs=2, defer_max=3, migrations=1),
    "defer-v2": lambda: small(cpus=2, skbs=3, defer="defer-v2", defer_max=2, netrx_raises=1, hotplug=True),
    "close-old": lambda: small(cpus=2, skbs=2, close_path="close-old", hotplug=True, netrx_raises=1),
    "fold-fclone-fin": lambda: small(cpus=2, skbs=2, mem_pcpu_rsv=1, fclone=True, bare_fin=True, netrx_raises=1),
    "wrap-linger0": lambda: small(cpus=2, skbs=2, isn=(1 << 32) - 1000, linger0=True, sysctl=0),
    "1cpu-max2": lambda: small(cpus=1, skbs=3, defer_max=2),
}


def test_at_least_ten_configurations() -> None:
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_counts_equal_the_explorers(name: str) -> None:
    state = CONFIGS[name]()
    py = explore(state, skip=FOUND, max_seconds=120)
    assert py.complete and py.violation is None, py.summary()
    spin = driver.explore_spin(state, skip=FOUND, checked=True)
    assert spin.complete and spin.violation is None, spin.summary()
    assert (spin.distinct_states, spin.transitions, spin.depth) == (py.distinct_states, py.transitions, py.depth)


@pytest.mark.parametrize("name", ["acceptance", "hotplug-no-flush-sysctl", "defer-v2"])
def test_same_violation_as_the_explorer(name: str, tmp_path: Path) -> None:
    """Every invariant on: SPIN finds the same invariant at the same (shortest) length, and its
    trail is a run of the spec that shows it."""
    state = CONFIGS[name]()
    py = explore(state, max_seconds=120)
    spin = driver.explore_spin(state, checked=True, workdir=tmp_path)
    assert py.violation is not None and spin.violation is not None, (py.summary(), spin.summary())
    assert (spin.violation.invariant, spin.violation.step, spin.violation.quiescent) == (
        py.violation.invariant,
        py.violation.step,
        py.violation.quiescent,
    )
    verdict = check_run(state, spin.violation.actions)
    assert (verdict.invariant, verdict.step) == (spin.violation.invariant, spin.violation.step)


def test_cli_spin_writes_a_trace_that_replay_reproduces(tmp_path: Path) -> None:
    os.environ["TCPCLOSE_TRACE_DIR"] = str(tmp_path)
    try:
        done = tcpclose("explore", "--config", "acceptance", "--engine", "spin")
    finally:
        os.environ.pop("TCPCLOSE_TRACE_DIR")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dead_cpu_slots_emptied fails at quiescence after step 9" in done.stdout
    (written,) = tmp_path.iterdir()
    replayed = tcpclose("replay", str(written), "--json")
    assert replayed.returncode == 1 and '"step": 9' in replayed.stdout


def test_cli_spin_options() -> None:
    done = tcpclose("explore", "--config", "tiny-1", "--engine", "spin", "--bitstate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "coverage" in done.stdout and "hash factor" in done.stdout
    assert tcpclose("explore", "--config", "tiny-1", "--workers", "2").returncode == 2  # Python engine
    both = tcpclose("explore", "--config", "tiny-1", "--engine", "spin", "--bitstate", "--hashcompact")
    assert both.returncode == 2


def test_parallel_search_counts() -> None:
    state = CONFIGS["acceptance"]()
    spin = driver.explore_spin(state, skip=FOUND, workers=2, checked=True)
    assert spin.complete and (spin.distinct_states, spin.transitions) == (2216, 3994), spin.summary()


# -- step by step ---------------------------------------------------------------------------------


def compare(initial: State, walks: list[tuple[Action, ...]], skip: frozenset[str] | None = None) -> str | None:
    """Play the walks in SPIN's simulator and with the spec; the first difference, or None."""
    return compare_logs(initial, walks, driver.run_walks(initial, walks, skip=skip))


def compare_logs(initial: State, walks: list[tuple[Action, ...]], logs: list[list[driver.Observed]]) -> str | None:
    """The first difference between what SPIN showed along the walks and the spec, or None."""
    for w, (walk, log) in enumerate(zip(walks, logs, strict=False)):
        state = initial
        for i, seen in enumerate(log):
            if seen.refused is not None or seen.violated is not None:
                what = f"refused {seen.refused}" if seen.refused else f"found {seen.violated}"
                return f"walk {w} step {i}: SPIN {what}"
            want = sorted(promela._label(a) for a in enabled(state))
            if sorted(seen.enabled) != want:
                return f"walk {w} step {i}: enabled {sorted(seen.enabled)} != spec's {want}"
            vector = promela.encode(state, initial)
            diff = {k: (v, seen.vector.get(k)) for k, v in vector.items() if seen.vector.get(k) != v}
            if diff:
                return f"walk {w} step {i}: state differs (spec, SPIN): {diff}"
            if i < len(walk):
                state = step(state, walk[i])
        if len(log) != len(walk) + 1:
            return f"walk {w}: SPIN played {len(log) - 1} of {len(walk)} steps"
    return None


def shortest_paths(initial: State, limit: int = 200) -> list[tuple[Action, ...]]:
    """A shortest path to each state of the configuration (breadth first), the longest first."""
    parents: dict[State, tuple[State, Action] | None] = {initial: None}
    level = [initial]
    while level and len(parents) < limit:
        nxt = []
        for s in level:
            for a in enabled(s):
                t = step(s, a)
                if t not in parents:
                    parents[t] = (s, a)
                    nxt.append(t)
        level = nxt
    paths = []
    for s in parents:
        path: list[Action] = []
        link = parents[s]
        while link is not None:
            s, a = link
            path.append(a)
            link = parents[s]
        paths.append(tuple(reversed(path)))
    paths.sort(key=len, reverse=True)
    return [p for p in paths if p][:limit]


@pytest.mark.parametrize("name", ["tiny-1", "3cpu-2node-migrate", "defer-v2", "fold-fclone-fin"])
def test_every_state_step_by_step(name: str) -> None:
    initial = CONFIGS[name]()
    walks = shortest_paths(initial, limit=60)
    assert compare(initial, walks) is None


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_trace_accepted_by_both(path: Path) -> None:
    """Every corpus trace, on the unmodified spec: SPIN's simulator plays every action, shows the
    spec's state after each, and ends with the verdict the trace expects of the spec."""
    trace = traces.load(path)
    expect = trace.expect_on_spec
    logs = driver.run_walks(trace.initial, [trace.actions], skip=frozenset())
    (log,) = logs
    assert all(o.refused is None for o in log)
    violated = [(i, o.violated) for i, o in enumerate(log) if o.violated is not None]
    if expect is None or expect.holds:
        assert not violated and len(log) == len(trace.actions) + 1
    else:
        # The assertion fails inside the step after which the spec sees the violation.
        assert violated == [(expect.step, expect.invariant)], (violated, expect)
    assert compare(trace.initial, [trace.actions[: len(log) - 1 - len(violated)]]) is None


# -- drift ----------------------------------------------------------------------------------------


def _mutant_groups() -> dict[str, list[str]]:
    """The mutants by the configuration that exposes them (one SPIN simulation per group)."""
    groups: dict[str, list[str]] = {}
    for name in sorted(MUTANTS):
        config = FOR_MUTANT[name]
        key = ",".join(f"{k}={v}" for k, v in sorted(config.kwargs.items())) + f",skbs={config.skbs}"
        groups.setdefault(key, []).append(name)
    return groups


GROUPS = _mutant_groups()


@pytest.mark.parametrize("key", sorted(GROUPS))
def test_a_spec_edit_the_promela_does_not_follow_is_caught(key: str) -> None:
    """A mutant is an edit of the spec: the walks of the mutated spec, played in SPIN, differ.
    The walks: the explorer's shortest counterexample on the mutated spec (a run where the edit
    shows), and shortest paths to the first states. Each mutant's walks are compared on their
    own; they share one simulation per configuration."""
    names = GROUPS[key]
    config = FOR_MUTANT[names[0]]
    initial = config.build()
    walks: dict[str, list[tuple[Action, ...]]] = {}
    for name in names:
        with MUTANTS[name].applied():
            walks[name] = shortest_paths(initial, limit=30)
            cx = explore(initial, skip=ALL - set(MUTANTS[name].invariants), max_seconds=30).violation
            if cx is not None:
                walks[name].insert(0, cx.actions)
    logs = driver.run_walks(initial, [w for name in names for w in walks[name]])
    start = 0
    for name in names:
        mine = logs[start : start + len(walks[name])]
        start += len(walks[name])
        with MUTANTS[name].applied():
            differs = compare_logs(initial, walks[name], mine)
        assert differs is not None, f"mutant {name} went unnoticed"


def test_every_field_of_the_state_is_represented() -> None:
    for cls, covered in promela.COVERED.items():
        fields = {f.name for f in attrs.fields(cls)}
        assert fields == covered, f"{cls.__name__}: the Promela does not represent {sorted(fields - covered)}"


def test_every_invariant_has_its_assertion() -> None:
    for kind in ("state", "transition", "quiescent"):
        assert len(promela.check_calls(kind, frozenset())) == len([i for i in REGISTRY.values() if i.kind == kind])
