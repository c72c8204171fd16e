"""``tcpclose live``: the trace windows on a recorded sample, the spec's allowed observations
(values worked out by hand from FACTS §7-§9), the comparison (each property shown to catch a
doctored observation), the workload normalizer and strategy, the scripted scheduler, and the
machine-state guard on a sandboxed machine (restored after an exception, SIGINT and SIGTERM).
The live run itself only with TCPCLOSE_LIVE=1 (root; it changes a sysctl, CPUs and tracefs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from live import machine as M
from live.observe import PROPERTIES, Observation, Window, compare, windows
from live.run import workloads
from model.scenarios_live import Conn, Step, Workload, allowed, normalize, scenario
from model.scheduler import run
from spec import CloseStart, IpiDeliver, RecvStart, SetDeferMax, SpecError

DATA = Path(__file__).parent / "data"
LIVE = pytest.mark.skipif(os.environ.get("TCPCLOSE_LIVE") != "1", reason="live kernel test: set TCPCLOSE_LIVE=1 (root)")

# The workload tests/data/live_trace.txt was recorded with (by live.run.Runner.observe).
SAMPLE = normalize(
    3,
    [Conn(0, 10), Conn(1, 4)],
    [Step("read", 0, 1, 2), Step("netrx", cpu=0), Step("sysctl", value=0)],
    [Step("close", 0, 1, 2), Step("close", 1, 0, 3)],
    2,
)
# SO_MEMINFO (rmem, fwd_alloc) before each call. The sample's trace was recorded when the harness
# read index 2 (SK_MEMINFO_WMEM_ALLOC, always 0 on a receiver) as fwd_alloc; the fwd_alloc values
# are those re-measured with index 4 on the same machine and workload sizes (10, 8, 4 skbs).
SAMPLE_MEMINFO = ((18320, 2160), (14656, 1728), (7328, 864))
TRUESIZE = 1832


def sample() -> Observation:
    text = (DATA / "live_trace.txt").read_text()
    tids = {int(line.split("-")[1].split()[0]) for line in text.splitlines() if "csd_queue_cpu" in line}
    wins = tuple(windows(text, 2, len(SAMPLE.steps), tids))
    return Observation(SAMPLE, TRUESIZE, 2, 64, wins, SAMPLE_MEMINFO, (0, 0), text)


def test_sample_workload_is_what_was_recorded() -> None:
    assert [str(s) for s in SAMPLE.steps] == [
        "read 2 skb(s) of conn 0 on CPU 1", "netrx CPU 0", "skb_defer_max = 0", "close conn 0 on CPU 1",
        "close conn 1 on CPU 0", "netrx CPU 0", "netrx CPU 1",
    ]  # fmt: skip


def test_windows_of_the_recorded_trace() -> None:
    """Read by eye from the sample: the read on CPU 1 kicks CPU 0 once (its second skb, max 3) and
    that IPI's NET_RX flushes both; every other NET_RX is the environment's: the netrx steps, the
    RST of each close on its closing CPU; the probe defers one skb to each CPU."""
    obs = sample()
    w = obs.windows
    assert w[0] == Window(0, (1, 0), (0, 0), (), (2, 0))
    assert [x.env_netrx for x in w[1:7]] == [(0,), (), (1,), (0,), (0,), (1,)]
    assert w[-1].step == -1 and w[-1].flush_frees == (1, 1)
    assert obs.total("ipis") == (1, 0) and obs.total("flush_frees") == (2, 0)
    assert not obs.wedged(0) and not obs.wedged(1)


def test_foreign_ipis_are_told_apart() -> None:
    text = (DATA / "live_trace.txt").read_text()
    assert windows(text, 2, len(SAMPLE.steps), set())[0].foreign_ipis == (1, 0)


def test_the_sample_agrees_with_the_spec() -> None:
    """The kernel of this machine and the spec agree on every property of the sample, the
    sk_forward_alloc left by the page reservation (FACTS §2-§3) included."""
    obs = sample()
    spec, _ = allowed(SAMPLE, TRUESIZE, 2, obs.env_netrx, 64)
    assert spec.range("ipis", 0) == (1, 1) and spec.range("deferred", 0) == (2, 2)
    assert spec.meminfo == ((18320, 2160), (14656, 1728), (7328, 864))  # FACTS §2-§3 by hand
    assert compare(obs, spec) == {}


@pytest.mark.parametrize(
    ("doctor", "caught"),
    [
        (lambda w: attrs.evolve(w, ipis=(3, 0)) if w.step == 0 else w, "defer_ipis"),
        (lambda w: attrs.evolve(w, flush_frees=(0, 0)) if w.step == 0 else w, "deferred_skbs"),
        (lambda w: attrs.evolve(w, flush_frees=(0, 1)) if w.step == -1 else w, "wedged_slots"),
    ],
)
def test_each_property_catches_a_doctored_observation(doctor: object, caught: str) -> None:
    obs = sample()
    spec, _ = allowed(SAMPLE, TRUESIZE, 2, obs.env_netrx, 64)
    bad = attrs.evolve(obs, windows=tuple(doctor(w) for w in obs.windows))  # type: ignore[operator]
    assert caught in compare(bad, spec)


def test_accounting_properties_catch_doctored_meminfo() -> None:
    obs = sample()
    spec, _ = allowed(SAMPLE, TRUESIZE, 2, obs.env_netrx, 64)
    assert "sk_rmem_alloc" in compare(attrs.evolve(obs, meminfo=((1, 2160), *SAMPLE_MEMINFO[1:])), spec)
    assert "sk_forward_alloc" in compare(attrs.evolve(obs, meminfo=((18320, 0), *SAMPLE_MEMINFO[1:])), spec)
    assert "sk_forward_alloc" not in compare(attrs.evolve(obs, meminfo=spec.meminfo), spec)


def test_no_deferral_where_forbidden() -> None:
    """At max 0 every schedule falls back (FACTS §7): any IPI or flushed skb is a divergence."""
    w = normalize(0, [Conn(0, 5)], [], [Step("close", 0, 1, 0)], 2)
    spec, _ = allowed(w, TRUESIZE, 2, [(1,), (0,), (1,)], 64)
    assert spec.forbids_deferral
    quiet = Window(0, (0, 0), (0, 0), (1,), (0, 0))
    probe = Window(-1, (0, 0), (0, 0), (), (1, 1))
    obs = Observation(w, TRUESIZE, 2, 64, (quiet, quiet, quiet, probe), ((9160, 0),), (0, 0), "")
    assert "no_deferral_where_forbidden" not in compare(obs, spec)
    kicked = attrs.evolve(quiet, ipis=(1, 0), flush_frees=(5, 0))
    assert "no_deferral_where_forbidden" in compare(attrs.evolve(obs, windows=(kicked, quiet, quiet, probe)), spec)


@pytest.mark.parametrize(
    ("conns", "defer_max", "ipis", "deferred", "count"),
    [
        # max 64, 40 skbs from CPU 0 closed on CPU 1: the 33rd kicks; the drain flushes the rest.
        (4, 64, (1, 1), (40, 40), (0, 0)),
        # max 3: every IPI at once -> a kick every second skb (20), each flushing 2; every IPI late
        # -> one kick, 2 deferred, 38 fall back; the drain flushes the 2 and resets the count.
        (4, 3, (1, 20), (2, 40), (0, 0)),
        # max 0: all 40 fall back; the count keeps every attempt (F5), the list stays empty.
        (4, 0, (0, 0), (0, 0), (40, 40)),
        # 70 skbs at max 0 -> count 70: a one-skb deferral at 64 afterwards is refused (wedged).
        (7, 0, (0, 0), (0, 0), (70, 70)),
    ],
)
def test_allowed_by_hand(
    conns: int, defer_max: int, ipis: tuple[int, int], deferred: tuple[int, int], count: tuple[int, int]
) -> None:
    w = normalize(defer_max, [Conn(0, 10)] * conns, [], [Step("close", i, 1, 0) for i in range(conns)], 2)
    # The RST of each close runs NET_RX on CPU 1; the drain runs NET_RX on CPU 0 then CPU 1.
    env = [(1,)] * conns + [(0,), (1,)]
    spec, _ = allowed(w, TRUESIZE, 2, env, 64)
    assert spec.range("ipis", 0) == ipis and spec.range("deferred", 0) == deferred
    assert tuple(sorted(o.final_count[0] for o in spec.outcomes.values())) == count
    assert spec.wedged(0) == {count[0] + 1 >= 64}


def test_normalize_makes_a_runnable_workload() -> None:
    """Expected: the read of a closed connection goes, a read of more than is left is cut down,
    the call on offline CPU 1 moves to CPU 0, a sysctl write of the value in force goes, and the
    end brings CPU 1 back and drains both CPUs."""
    w = normalize(
        64,
        [Conn(0, 3), Conn(1, 2)],
        [Step("read", 0, 1, 9), Step("sysctl", value=64), Step("offline", cpu=1), Step("read", 1, 1, 1)],
        [Step("close", 0, 1, 1), Step("close", 1, 1, 4)],
        2,
    )
    assert [str(s) for s in w.steps] == [
        "read 3 skb(s) of conn 0 on CPU 1", "close conn 0 on CPU 1", "offline CPU 1",
        "read 1 skb(s) of conn 1 on CPU 0", "close conn 1 on CPU 0", "online CPU 1", "netrx CPU 0", "netrx CPU 1",
    ]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(workloads(2, (1,)))
def test_every_drawn_workload_runs_on_the_spec(w: Workload) -> None:
    """Every connection is closed once, after its reads; no call runs on an offline CPU; the
    spec's script runs both schedules to the end with any NET_RX the kernel might add."""
    closes = [s.conn for s in w.steps if s.kind == "close"]
    assert sorted(closes) == list(range(len(w.conns)))
    online = {0: True, 1: True}
    for s in w.steps:
        if s.kind in ("offline", "online"):
            online[s.cpu] = s.kind == "online"
        if s.is_call:
            assert online[s.cpu]
    assert all(online.values())
    env = [(s.cpu,) if s.kind in ("close", "netrx") else () for s in w.steps]
    allowed(w, TRUESIZE, 2, env, 64)


def test_the_script_runs_calls_one_after_the_other() -> None:
    """Two sockets' closes never overlap under a script, and with IpiDeliver slow no IPI is
    delivered before the script's last item."""
    w = normalize(3, [Conn(0, 4), Conn(0, 4)], [], [Step("close", 0, 1, 0), Step("close", 1, 1, 0)], 2)
    state, script = scenario(w, TRUESIZE, 2)
    r = run(state, script=script, slow=(IpiDeliver,))
    assert all(sum(s.owner is not None for s in st.sockets) <= 1 for st in r.states)
    starts = [i for i, a in enumerate(r.actions) if isinstance(a, RecvStart | CloseStart)]
    delivered = [i for i, a in enumerate(r.actions) if isinstance(a, IpiDeliver)]
    assert len(starts) == 2 and delivered and min(delivered) > max(starts)


def test_a_script_item_that_is_not_enabled_is_an_error() -> None:
    w = normalize(3, [Conn(0, 1)], [], [Step("close", 0, 1, 0)], 2)
    state, script = scenario(w, TRUESIZE, 2)
    with pytest.raises(SpecError, match="not enabled"):
        run(state, script=[SetDeferMax(5), *script])


# -- the machine-state guard, sandboxed ----------------------------------------------------------


def fake_machine(root: Path) -> M.Machine:
    (root / "proc/sys/net/core").mkdir(parents=True)
    (root / "proc/sys/net/core/skb_defer_max").write_text("64\n")
    (root / "sys/devices/system/cpu/cpu1").mkdir(parents=True)
    (root / "sys/devices/system/cpu/cpu1/online").write_text("1\n")
    (root / "sys/kernel/tracing").mkdir(parents=True)
    return M.Machine(root, real=False)


def assert_restored(m: M.Machine) -> None:
    assert m.read_defer_max() == 64
    assert m.is_online(1)
    assert not m.tracefs_mounted()  # it was not mounted: the guard unmounts what it mounted


def change_everything(saved: M.Saved) -> None:
    saved.mount()
    saved.instance("tcpclose-test")
    saved.machine.write_defer_max(0)
    saved.machine.set_online(1, False)


def test_guard_restores_after_an_exception(tmp_path: Path) -> None:
    m = fake_machine(tmp_path)
    with pytest.raises(RuntimeError), M.guarded(m) as saved:
        change_everything(saved)
        assert m.read_defer_max() == 0 and not m.is_online(1) and m.tracefs_mounted()
        raise RuntimeError("boom")
    assert_restored(m)


CHILD = """
import sys, time
from pathlib import Path
from live import machine as M
m = M.Machine(Path(sys.argv[1]), real=False)
try:
    with M.guarded(m) as saved:
        saved.mount(); saved.instance("tcpclose-test")
        m.write_defer_max(0); m.set_online(1, False)
        print("changed", flush=True)
        time.sleep(60)
except M.Interrupted as stop:
    sys.exit(128 + stop.signum)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_guard_restores_when_killed_mid_run(tmp_path: Path, signum: int) -> None:
    m = fake_machine(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).parent.parent)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "changed"
    assert m.read_defer_max() == 0 and not m.is_online(1)
    child.send_signal(signum)
    assert child.wait(timeout=30) == 128 + signum
    assert_restored(m)


def test_properties_are_named_in_the_report_order() -> None:
    assert list(PROPERTIES)[:3] == ["no_deferral_where_forbidden", "defer_ipis", "deferred_skbs"]


# -- the live kernel -----------------------------------------------------------------------------


@LIVE
def test_live_run_restores_the_machine() -> None:
    from live.run import explicit, live

    m = M.Machine()
    before, mounted = m.read_defer_max(), m.tracefs_mounted()
    report = live(machine=m, examples=3, seed=1, hotplug=False, shrink_seconds=5)
    assert report.examples + report.discarded == 3 + len(explicit(m.cpus(), ()))
    if before <= 70:  # the explicit F5 shape (70 attempts at max 0) wedges CPU 0's slot at this maximum
        assert dict(report.coverage)["a wedge was seen"] >= 1
    assert all(p.examples > 0 for p in report.properties if p.name != "no_deferral_where_forbidden")
    assert m.read_defer_max() == before and m.tracefs_mounted() == mounted and report.restored


@LIVE
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_live_command_killed_mid_run_restores(signum: int, tmp_path: Path) -> None:
    """``tcpclose live --hotplug`` killed while it runs: sysctl, CPUs and tracefs as they were."""
    m = M.Machine()
    before, mounted = m.read_defer_max(), m.tracefs_mounted()
    online = {c: m.is_online(c) for c in m.hotpluggable()}
    child = subprocess.Popen(
        [sys.executable, "-m", "tcpclose", "live", "--examples", "200", "--hotplug", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(6)
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, err
    assert "restored" in err
    assert m.read_defer_max() == before and m.tracefs_mounted() == mounted
    assert {c: m.is_online(c) for c in m.hotpluggable()} == online


@pytest.mark.parametrize(
    ("mutant", "caught"),
    [
        ("count_increment_lost", "defer_ipis"),  # the count never grows: the read's second skb does not kick
        ("slot_of_freeing_cpu", "deferred_skbs"),  # the skbs go to the reader's CPU, which flushes them
        ("eat_skips_uncharge", "sk_rmem_alloc"),  # the read leaves its skbs charged
    ],
)
def test_the_recorded_kernel_tells_a_broken_spec_apart(mutant: str, caught: str) -> None:
    """The oracle works both ways: against a deliberately broken spec, the recorded kernel run
    diverges in the property that mutant breaks."""
    from properties.mutants import ALL_MUTANTS

    obs = sample()
    with ALL_MUTANTS[mutant].applied():
        spec, _ = allowed(SAMPLE, TRUESIZE, 2, obs.env_netrx, 64)
    assert caught in compare(obs, spec)


def test_f2_counts_our_ipis_per_window() -> None:
    """The F2 race's windows: IPIs to the hotplugged CPU by our threads only, per marker."""
    from live.hotplug import F2Result, _ipis

    lines = [
        "  tcpclose-10 [000] ...1. 1.000001: tracing_mark_write: tcpclose f2 before",
        "  tcpclose-11 [000] d..2. 1.000002: csd_queue_cpu: cpu=1 callsite=x func=trigger_rx_softirq csd=0",
        "  other-12 [000] d..2. 1.000003: csd_queue_cpu: cpu=1 callsite=x func=trigger_rx_softirq csd=0",
        "  tcpclose-10 [000] ...1. 1.000004: tracing_mark_write: tcpclose f2 after",
    ]
    text = "\n".join(lines)
    assert _ipis(text, 1, {11}, "before") == 1 and _ipis(text, 1, {11}, "after") == 0
    stuck = F2Result(1, 3, 100, ipis_before=1, ipis_during=50, ipis_after=0, preempt="full")
    assert stuck.stuck and "F2 seen live" in stuck.verdict()
    fine = attrs.evolve(stuck, ipis_after=1, preempt="none")
    assert not fine.stuck and "preemption model 'none'" in fine.verdict()


def test_a_divergence_is_written_as_a_live_log_and_replayable_traces(tmp_path: Path) -> None:
    """A divergence (the sample with its first sk_forward_alloc doctored to 0, what the harness
    once read), written: the log names the property, the workload and who is wrong; the spec's
    runs replay with ``tcpclose replay`` (and hold)."""
    import json

    from live.run import Examined, write_divergence
    from properties import traces

    obs = attrs.evolve(sample(), meminfo=((18320, 0), *SAMPLE_MEMINFO[1:]))
    spec, runs = allowed(SAMPLE, TRUESIZE, 2, obs.env_netrx, 64)
    found = compare(obs, spec)
    files = write_divergence(Examined(SAMPLE, spec, (obs,), found, (), runs), "sk_forward_alloc", tmp_path)
    log = json.loads(files[0].read_text())
    assert log["property"] == "sk_forward_alloc" and "spec" in log["blame"]
    assert log["observations"][0]["trace"].count("tcpclose step") == len(SAMPLE.steps)
    for f in files[1:]:
        assert traces.replay(traces.load(f)).holds
        done = subprocess.run([sys.executable, "-m", "tcpclose", "replay", str(f)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
