"""``tcpclose probe``: the /proc and trace parsing on recorded samples, the prediction logic
(expected values worked out by hand from FACTS §7-§9), the environment checks, and one live
smoke test that runs only with TCPCLOSE_LIVE=1 (it needs root and changes a sysctl)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model import probe

DATA = Path(__file__).parent / "data"


def test_parse_softirqs_sample() -> None:
    counts = probe.parse_softirqs((DATA / "softirqs.txt").read_text())
    assert set(counts) >= {"NET_RX", "NET_TX", "TIMER"}
    assert all(len(v) == 2 for v in counts.values())  # recorded on this 2-CPU machine


def test_parse_interrupts_sample() -> None:
    counts = probe.parse_interrupts((DATA / "interrupts.txt").read_text())
    assert "CAL" in counts and len(counts["CAL"]) == 2
    assert counts["24"] == [1, 0]  # the first device row of the sample, read by eye


def test_count_defer_ipis_sample() -> None:
    text = (DATA / "csd_trace.txt").read_text()
    assert probe.count_defer_ipis(text, 0) == 2  # two trigger_rx_softirq to CPU 0, one ttwu
    assert probe.count_defer_ipis(text, 1) == 1


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


def test_environment_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(probe.ProbeUnavailable, match="needs root"):
        probe.check_environment(0, 1)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    with pytest.raises(probe.ProbeUnavailable, match="two CPUs"):
        probe.check_environment(0, 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(probe, "SYSCTL", Path("/nonexistent/skb_defer_max"))
    with pytest.raises(probe.ProbeUnavailable, match="absent"):
        probe.check_environment(0, 1)


@pytest.mark.skipif(os.environ.get("TCPCLOSE_LIVE") != "1", reason="live kernel test: set TCPCLOSE_LIVE=1 (root)")
def test_live_probe_smoke() -> None:
    before = probe.read_sysctl()
    report = probe.probe(a=0, b=1, defer_maxes=(3, 64), sockets=4, sends=10, reps=1)
    assert probe.read_sysctl() == before
    assert report.defers_after_rearm
    assert all(row.trials for row in report.rows)


def _trial(ipis: int, close_ns: int) -> probe.Trial:
    return probe.Trial(defer_max=3, skbs=40, net_rx=ipis, cal=ipis, ipis=ipis, close_ns=(close_ns,) * 4)


def test_rows_mark_disagreements() -> None:
    """Expected: IPIs inside the model's range agree; outside it, the row says which way and why;
    a close() time change against max 0 within 10% is noise, beyond it the direction is compared."""
    pred = probe.Prediction(ipis_min=1, ipis_max=4, deferred=40, fallbacks=0, close_ns=2000.0, ipis_fair=4)
    zero = probe.Prediction(ipis_min=0, ipis_max=0, deferred=0, fallbacks=40, close_ns=1000.0, ipis_fair=0)
    same = probe.Row(3, (_trial(2, 1000),), (_trial(0, 1000),), pred, zero)
    assert same.agrees and same.direction_agrees is None and same.disagreement() is None
    many = probe.Row(3, (_trial(9, 1000),), (_trial(0, 1000),), pred, zero)
    assert not many.agrees and "more IPIs ([9])" in (many.disagreement() or "")
    cheaper = probe.Row(3, (_trial(2, 500),), (_trial(0, 1000),), pred, zero)  # model says 2x dearer
    assert cheaper.direction_agrees is False and "0.50x" in (cheaper.disagreement() or "")


def test_purge_times_from_a_trace() -> None:
    """Expected: each close() entry paired with the next move to TCP_CLOSE: 12 and 8 µs."""
    text = (
        "  python3-77 [001] ..... 100.000010: sys_enter: NR 3 (5, 0, 0, 0, 0, 0)\n"
        "  python3-77 [001] ..... 100.000022: inet_sock_set_state: family=AF_INET newstate=TCP_CLOSE\n"
        "  python3-77 [001] ..... 100.000100: sys_enter: NR 3 (6, 0, 0, 0, 0, 0)\n"
        "  python3-77 [001] ..... 100.000108: inet_sock_set_state: family=AF_INET newstate=TCP_CLOSE\n"
    )
    assert probe.purge_times_ns(text) == [12_000, 8_000]
