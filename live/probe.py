"""``tcpclose probe``: the attack run for real on this machine's kernel, over loopback, beside
the spec's prediction for the same workload (model/probe.py).

A trial: N TCP connections over 127.0.0.1; a sender thread pinned to CPU A writes K segments of
1000 bytes on each (TCP_NODELAY, so each write is one skb; at most 10, the initial congestion
window); the receiver holds its ACKs (TCP_QUICKACK 0, a small locked SO_RCVBUF), so each
received skb stays the fast clone of the sender's skb and keeps A as ``alloc_cpu``. After the
delayed ACK, a thread pinned to CPU B closes the N receivers. Around the closes the probe reads
NET_RX on A (/proc/softirqs: one flush per kick when nothing else runs there), the function-call
interrupts of A (/proc/interrupts CAL), and, where tracefs is available, counts the defer IPIs
queued to A (csd:csd_queue_cpu with func trigger_rx_softirq) in a trace instance of its own.
Each socket's skb count is verified before the closes (SO_MEMINFO rmem = K skbs of the
calibrated truesize, FIONREAD = K x 1000 bytes); a trial that does not match is discarded.

Repetitions alternate which of a configuration and its max-0 pair runs first, so that an order
effect shows as noise rather than as a direction.

Slot state carries over between trials, in the kernel as in the spec: a trial with
``skb_defer_max`` 0 adds N x K to A's count and leaves its list empty, so the count is never
reset (finding F5) and later trials fall back for good. The probe therefore re-arms the slot
before each trial (the sysctl above the count, one deferred skb, one NET_RX on A to flush it),
and at the end checks, before and after re-arming, that a cross-CPU close still defers.
The sysctl, tracefs and the CPUs are restored by live.machine.guarded(), whatever happens.
"""

from __future__ import annotations

import contextlib
import platform
import threading
import time
from collections.abc import Callable

import attrs

from live import kernel as K
from live.machine import LiveUnavailable, Machine, guarded
from live.machine import check_environment as check_machine
from model.probe import Prediction, Row, Trial, predict
from spec import SpecError

# close(2)'s number, for the purge timing (the syscall tracepoint filters on it).
NR_CLOSE = {"x86_64": 3, "aarch64": 57}.get(platform.machine())
# The events the probe traces: defer IPIs, and close() entry and the socket's move to TCP_CLOSE
# (made at the close decision, right after the purge loop) for the purge time.
EVENTS = ("csd/csd_queue_cpu", "raw_syscalls/sys_enter", "sock/inet_sock_set_state", "skb/consume_skb")
# Only the frees of deferred skbs (the re-arm's check tells a wedged slot by their absence).
FILTERS = {"skb/consume_skb": "location.function == skb_defer_free_flush"}

__all__ = ["Prediction", "Report", "Row", "Trial", "predict", "probe"]


def follow(tracer: K.Tracer, tid: int) -> None:
    """Record close() entries and moves to TCP_CLOSE of thread ``tid`` only."""
    tracer.filter("raw_syscalls/sys_enter", f"common_pid == {tid} && id == {NR_CLOSE if NR_CLOSE is not None else -1}")
    tracer.filter("sock/inet_sock_set_state", f"common_pid == {tid} && newstate == 7")


def trial(
    machine: Machine, sockets: int, sends: int, a: int, b: int, truesize: int | None, tracer: K.Tracer | None
) -> Trial | None:
    """One trial at the current sysctl; None when the skb count check fails (discarded)."""
    lst, senders, receivers = K.connections(sockets)
    try:
        K.pinned(a, lambda: K.send_all(senders, sends))
        time.sleep(K.ACK_WAIT)
        for r in receivers:
            rmem, left = K.rmem_and_unread(r)
            if left != sends * K.SEGMENT or (truesize is not None and rmem != sends * truesize):
                return None
        result: dict[str, object] = {}

        def close_all() -> None:
            time.sleep(0.005)
            softirq0 = K.parse_softirqs(machine.proc("softirqs").read_text())["NET_RX"][a]
            cal0 = K.parse_interrupts(machine.proc("interrupts").read_text()).get("CAL", [0] * (a + 1))[a]
            if tracer is not None:
                follow(tracer, threading.get_native_id())
                tracer.clear()
            times = []
            for r in receivers:
                t0 = time.perf_counter_ns()
                r.close()
                times.append(time.perf_counter_ns() - t0)
            time.sleep(0.05)  # let the kicked CPU run its NET_RX
            traced = tracer.text() if tracer is not None else ""
            if tracer is not None:
                follow(tracer, -1)
            result["net_rx"] = K.parse_softirqs(machine.proc("softirqs").read_text())["NET_RX"][a] - softirq0
            cal = K.parse_interrupts(machine.proc("interrupts").read_text()).get("CAL", [0] * (a + 1))[a]
            result["cal"] = cal - cal0
            result["ipis"] = K.count_defer_ipis(traced, a) if tracer is not None else None
            result["times"] = tuple(times)
            result["purge"] = tuple(K.purge_times_ns(traced))

        K.pinned(b, close_all)
        return Trial(machine.read_defer_max(), sockets * sends, int(result["net_rx"]), int(result["cal"]),  # type: ignore[call-overload]
                     result["ipis"], result["times"], result["purge"])  # type: ignore[arg-type]  # fmt: skip
    finally:
        K.close_quietly((*senders, *receivers, lst))


def rearm(machine: Machine, a: int, b: int, original: int, tracer: K.Tracer | None) -> bool:
    """Make sure A's slot for B's node is not wedged (F5); True when it was.

    One skb built on A is closed on B at the original maximum, then NET_RX on A: when the
    deferral goes through, that flush resets the count and the slot is re-armed already. When
    it is refused (no flush frees it; told by the trace), the slot was wedged: the maximum goes
    above any count for a second skb, whose flush resets the count. Without tracefs the second
    path is always taken."""
    machine.write_defer_max(original)  # the trial before may have left its own value
    lst, senders, receivers = K.connections(2)
    try:
        K.pinned(a, lambda: K.send_all(senders, 1))
        time.sleep(K.ACK_WAIT)
        wedged = True
        if tracer is not None:
            tracer.mark("tcpclose rearm check")
            K.pinned(b, receivers[0].close)
            K.netrx(a)
            time.sleep(K.SETTLE)
            text = tracer.text()
            check = text[text.rfind("tcpclose rearm check") :]
            wedged = not any(e.is_flush_free and e.cpu == a for e in K.parse_trace(check))
        if wedged:
            machine.write_defer_max(1 << 30)
            K.pinned(b, receivers[1].close)
            K.netrx(a)
            time.sleep(K.SETTLE)
        return wedged and tracer is not None
    finally:
        K.close_quietly((*senders, *receivers, lst))
        machine.write_defer_max(original)


@attrs.frozen
class Report:
    a: int
    b: int
    original: int
    truesize: int | None
    rows: tuple[Row, ...]
    discarded: int
    tracing: bool
    defers_before_rearm: bool
    defers_after_rearm: bool
    wedged_demo: tuple[int, int] | None  # (IPIs with re-arm, IPIs without) after a 0 trial
    wedges_seen: int = 0  # re-arms that found A's slot wedged (a deferral at the original maximum refused)


def check_environment(machine: Machine, a: int, b: int) -> None:
    check_machine(machine, "tcpclose probe")
    cpus = machine.cpus()
    if not (0 <= a < cpus and 0 <= b < cpus and a != b):
        raise LiveUnavailable(f"CPUs {a}:{b} must be two different CPUs below {cpus}")


def probe(
    *, a: int, b: int, defer_maxes: tuple[int, ...], sockets: int, sends: int, reps: int,
    machine: Machine | None = None, progress: Callable[[str], None] = lambda _: None,
) -> Report:  # fmt: skip
    machine = machine or Machine()
    check_environment(machine, a, b)
    if not 1 <= sends <= 10:
        raise SpecError("--sends must be between 1 and 10 (the initial congestion window)")
    if sockets < 1 or reps < 1 or any(d < 0 for d in defer_maxes):
        raise SpecError("--sockets and --reps must be >= 1 and every --defer-max >= 0")
    with guarded(machine) as saved:
        original = saved.defer_max
        tracer: K.Tracer | None = None
        with contextlib.suppress(OSError):
            if saved.mount():
                tracer = K.Tracer(saved.instance(f"tcpclose-probe-{threading.get_native_id()}"))
                follow(tracer, -1)  # nothing from the syscall and socket events until a closer is named
                tracer.enable(EVENTS, FILTERS)
        truesize = K.calibrate_truesize(a)
        trials: dict[int, list[Trial]] = {d: [] for d in defer_maxes}
        baselines: dict[int, list[Trial]] = {d: [] for d in defer_maxes}
        discarded = wedges = 0
        for rep in range(reps):
            for d in defer_maxes:
                pair = [(d, trials[d]), (0, baselines[d])]
                for value, into in pair if rep % 2 == 0 else pair[::-1]:
                    progress(f"rep {rep + 1}/{reps}: skb_defer_max {value}")
                    wedges += rearm(machine, a, b, original, tracer)
                    machine.write_defer_max(value)
                    got = trial(machine, sockets, sends, a, b, truesize, tracer)
                    if got is None:
                        discarded += 1
                    else:
                        into.append(got)
        zero = predict(sockets, sends, 0)
        rows = tuple(
            Row(d, tuple(trials[d]), tuple(baselines[d]), predict(sockets, sends, d), zero) for d in defer_maxes
        )
        # F5 live: closes at skb_defer_max 0 until A's count passes the original maximum, then a
        # trial at the original maximum without re-arming, and one after re-arming.
        progress("checking that a cross-CPU close still defers")
        machine.write_defer_max(0)
        for _ in range(original // (sockets * sends) + 1):
            trial(machine, sockets, sends, a, b, truesize, tracer)
        machine.write_defer_max(original)
        wedged = trial(machine, sockets, sends, a, b, truesize, tracer)
        wedges += rearm(machine, a, b, original, tracer)
        fresh = trial(machine, sockets, sends, a, b, truesize, tracer)
        wedges += rearm(machine, a, b, original, tracer)

    def kicked(t: Trial | None) -> int:
        return -1 if t is None else (t.ipis if t.ipis is not None else t.net_rx)

    return Report(
        a, b, original, truesize, rows, discarded, tracer is not None,
        defers_before_rearm=kicked(wedged) > 0, defers_after_rearm=kicked(fresh) > 0,
        wedged_demo=(kicked(fresh), kicked(wedged)), wedges_seen=wedges,
    )  # fmt: skip
