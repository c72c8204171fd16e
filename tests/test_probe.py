"""``tcpclose probe``: the /proc and trace parsing on recorded samples, the prediction logic
(expected values worked out by hand from FACTS §7-§9), the environment checks, and one live
smoke test that runs only with TCPCLOSE_LIVE=1 (it needs root and changes a sysctl)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from live import kernel, machine
from live import probe as live_probe
from model import probe

DATA = Path(__file__).parent / "data"


def test_parse_softirqs_sample() -> None:
    counts = kernel.parse_softirqs((DATA / "softirqs.txt").read_text())
    assert set(counts) >= {"NET_RX", "NET_TX", "TIMER"}
    assert all(len(v) == 2 for v in counts.values())  # recorded on this 2-CPU machine


def test_parse_interrupts_sample() -> None:
    counts = kernel.parse_interrupts((DATA / "interrupts.txt").read_text())
    assert "CAL" in counts and len(counts["CAL"]) == 2
    assert counts["24"] == [1, 0]  # the first device row of the sample, read by eye


def test_count_defer_ipis_sample() -> None:
    text = (DATA / "csd_trace.txt").read_text()
    assert kernel.count_defer_ipis(text, 0) == 2  # two trigger_rx_softirq to CPU 0, one ttwu
    assert kernel.count_defer_ipis(text, 1) == 1


@pytest.mark.parametrize(
    ("sockets", "sends", "defer_max", "carried", "expected"),
    [
        # max 0 and 1: every attempt falls back, nothing kicks.
        (4, 10, 0, 0, (0, 0, 0, 40)),
        (4, 10, 1, 0, (0, 0, 0, 40)),
        # max 2: one skb deferred (count 1), the rest fall back (count >= 2), never a kick.
        (1, 10, 2, 0, (0, 0, 1, 9)),
        # max 64, 40 skbs: the 33rd kicks; at most 63 fit, so none falls back; one IPI either way.
        (4, 10, 64, 0, (1, 1, 40, 0)),
        # max 128: 40 skbs never reach the kick point (65).
        (4, 10, 128, 0, (0, 0, 40, 0)),
        # max 3: IPIs late -> one kick; flushed at once -> a kick every second skb: 20.
        (4, 10, 3, 0, (1, 20, None, None)),
        # A count carried at 40 (after a max-0 trial): counts 41..63 push with no kick (33 is
        # behind), 64.. fall back: 23 deferred, 17 fallbacks, no IPI.
        (4, 10, 64, 40, (0, 0, 23, 17)),
    ],
)
def test_prediction(sockets: int, sends: int, defer_max: int, carried: int, expected: tuple[int | None, ...]) -> None:
    got = probe.predict(sockets, sends, defer_max, carried)
    values = (got.ipis_min, got.ipis_max, got.deferred, got.fallbacks)
    assert all(e is None or e == v for e, v in zip(expected, values, strict=True)), got


def test_environment_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = machine.Machine()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(machine.LiveUnavailable, match="needs root"):
        live_probe.check_environment(real, 0, 1)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    with pytest.raises(machine.LiveUnavailable, match="two CPUs"):
        live_probe.check_environment(real, 0, 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    with pytest.raises(machine.LiveUnavailable, match="absent"):
        live_probe.check_environment(machine.Machine(tmp_path), 0, 1)


@pytest.mark.skipif(os.environ.get("TCPCLOSE_LIVE") != "1", reason="live kernel test: set TCPCLOSE_LIVE=1 (root)")
def test_live_probe_smoke() -> None:
    m = machine.Machine()
    before, mounted = m.read_defer_max(), m.tracefs_mounted()
    report = live_probe.probe(a=0, b=1, defer_maxes=(3, 64), sockets=4, sends=10, reps=1)
    assert m.read_defer_max() == before and m.tracefs_mounted() == mounted
    assert report.defers_after_rearm
    assert report.wedges_seen >= 1  # the F5 demonstration wedges the slot on purpose
    assert all(row.trials for row in report.rows)


def _trial(ipis: int, close_ns: int) -> probe.Trial:
    return probe.Trial(defer_max=3, skbs=40, net_rx=ipis, cal=ipis, ipis=ipis, close_ns=(close_ns,) * 4)


PRED = probe.Prediction(ipis_min=1, ipis_max=4, deferred=40, fallbacks=0, close_ns=2000.0, ipis_fair=4)
ZERO = probe.Prediction(ipis_min=0, ipis_max=0, deferred=0, fallbacks=40, close_ns=1000.0, ipis_fair=0)


def test_rows_mark_disagreements() -> None:
    """Expected: IPIs inside the model's range agree; outside it, the row says which way and why;
    with five repetitions whose max-0 medians spread 4% (noise floor 5%), a row at half the
    max-0 time in every repetition is cheaper, against the model's "dearer"."""
    base = tuple(_trial(0, t) for t in (1000, 1010, 990, 1020, 1000))
    same = probe.Row(3, tuple(_trial(2, t) for t in (1000, 1000, 1000, 1000, 1000)), base, PRED, ZERO)
    assert same.agrees and same.measured_direction == "inconclusive" and same.disagreement() is None
    many = probe.Row(3, (_trial(9, 1000),), base[:1], PRED, ZERO)
    assert not many.agrees and "more IPIs ([9])" in (many.disagreement() or "")
    cheaper = probe.Row(3, tuple(_trial(2, 500) for _ in range(5)), base, PRED, ZERO)
    assert cheaper.noise == pytest.approx(0.05) and cheaper.measured_direction == "cheaper"
    assert cheaper.predicted_direction == "dearer" and cheaper.direction_agrees is False
    assert "0.50x" in (cheaper.disagreement() or "") and "VM exit" in (cheaper.disagreement() or "")


def test_too_few_repetitions_are_inconclusive() -> None:
    """The issue's case: a max-0 row against its own max-0 pair measured 0.41x and 0.72x in two
    repetitions. Two repetitions cannot show the noise: no direction, no disagreement."""
    row = probe.Row(0, (_trial(0, 410), _trial(0, 720)), (_trial(0, 1000), _trial(0, 1000)), ZERO, ZERO)
    assert row.measured_direction == "inconclusive" and row.direction_agrees is None
    assert row.disagreement() is None


def test_a_change_inside_the_noise_is_inconclusive() -> None:
    """Expected: max-0 medians of 700..1300 across five repetitions are ±60% noise; a row at 0.6x
    is inside it, and so is a row whose repetitions point both ways."""
    base = tuple(_trial(0, t) for t in (700, 1000, 1300, 1000, 1000))
    inside = probe.Row(64, tuple(_trial(1, 600) for _ in range(5)), base, PRED, ZERO)
    assert inside.noise == pytest.approx(0.6) and inside.measured_direction == "inconclusive"
    mixed = probe.Row(64, tuple(_trial(1, t) for t in (100, 3000, 100, 100, 100)), base, PRED, ZERO)
    assert mixed.measured_direction == "inconclusive"


def test_reasons_are_specific_to_the_row() -> None:
    """A max-0 row (the spec runs it exactly as its baseline) that measures consistently cheaper
    than its pair beyond the noise is a disagreement about the measurement, not about IPIs."""
    base = tuple(_trial(0, t) for t in (1000, 1010, 990, 1020, 1000))
    row = probe.Row(0, tuple(_trial(0, 400) for _ in range(5)), base, ZERO, ZERO)
    assert row.predicted_direction == "same" and row.measured_direction == "cheaper"
    why = row.disagreement() or ""
    assert "exactly as max 0" in why and "IPIs ([" not in why and "VM exit" not in why


def test_purge_times_from_a_trace() -> None:
    """Expected: each close() entry paired with the next move to TCP_CLOSE: 12 and 8 µs."""
    text = (
        "  python3-77 [001] ..... 100.000010: sys_enter: NR 3 (5, 0, 0, 0, 0, 0)\n"
        "  python3-77 [001] ..... 100.000022: inet_sock_set_state: family=AF_INET newstate=TCP_CLOSE\n"
        "  python3-77 [001] ..... 100.000100: sys_enter: NR 3 (6, 0, 0, 0, 0, 0)\n"
        "  python3-77 [001] ..... 100.000108: inet_sock_set_state: family=AF_INET newstate=TCP_CLOSE\n"
    )
    assert kernel.purge_times_ns(text) == [12_000, 8_000]
