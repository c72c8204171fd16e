"""``tcpclose probe``: the attack run for real on this machine's kernel, over loopback, beside
the spec's prediction for the same workload.

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

The prediction is the spec's: the same workload (N sockets x K skbs built on A, closed on B,
``skb_defer_max`` d) run to quiescence twice, once with every IPI delivered at once and once
with every IPI late (after the closes): the IPIs the v6.18 rules allow lie between the two.

Slot state carries over between trials, in the kernel as in the spec: a trial with
``skb_defer_max`` 0 adds N x K to A's count and leaves its list empty, so the count is never
reset (finding F5) and later trials fall back for good. The probe therefore re-arms the slot
before each trial (the sysctl above the count, one deferred skb, one NET_RX on A to flush it),
and at the end checks, before and after re-arming, that a cross-CPU close still defers.
Every sysctl it changes is restored, whatever happens.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import platform
import re
import socket
import statistics
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from model.metrics import measure
from model.scenarios import socket as spec_socket
from model.scheduler import run
from spec import Config, Incoming, IpiDeliver, PurgeStep, SpecError, State, UserOp, boot

SYSCTL = Path("/proc/sys/net/core/skb_defer_max")
TRACEFS = Path("/sys/kernel/tracing")
SO_MEMINFO = 55  # include/uapi/asm-generic/socket.h
SEGMENT = 1000
ACK_WAIT = 0.25  # longer than the delayed-ACK timer's first firing (40 ms min, 200 ms max)


class ProbeUnavailable(SpecError):
    """The probe cannot run here (not root, one CPU, no sysctl): one line, exit status 2."""


# -- /proc parsing ---------------------------------------------------------------------------------


def parse_softirqs(text: str) -> dict[str, list[int]]:
    """/proc/softirqs: softirq name -> count per CPU."""
    lines = text.splitlines()
    ncpu = len(lines[0].split())
    out = {}
    for line in lines[1:]:
        name, _, rest = line.partition(":")
        if rest:
            out[name.strip()] = [int(x) for x in rest.split()[:ncpu]]
    return out


def parse_interrupts(text: str) -> dict[str, list[int]]:
    """/proc/interrupts: row label (``CAL``, ``24``, ...) -> count per CPU."""
    lines = text.splitlines()
    ncpu = len(lines[0].split())
    out = {}
    for line in lines[1:]:
        label, _, rest = line.partition(":")
        counts = []
        for word in rest.split()[:ncpu]:
            if not word.isdigit():
                break
            counts.append(int(word))
        if counts:
            out[label.strip()] = counts
    return out


_EVENT_LINE = re.compile(r"\s(\d+\.\d+):\s+(sys_enter|inet_sock_set_state):")


def purge_times_ns(trace_text: str) -> list[int]:
    """Per close(): from the syscall's entry to the socket's move to TCP_CLOSE (lock, shutdown,
    the purge loop, the decision's MIB update), from a trace of one closing thread."""
    out, entered = [], None
    for line in trace_text.splitlines():
        m = _EVENT_LINE.search(line)
        if m is None:
            continue
        stamp = round(float(m.group(1)) * 1e9)
        if m.group(2) == "sys_enter":
            entered = stamp
        elif entered is not None:
            out.append(stamp - entered)
            entered = None
    return out


def count_defer_ipis(trace_text: str, cpu: int) -> int:
    """Defer IPIs queued to ``cpu`` in a csd:csd_queue_cpu trace (func trigger_rx_softirq)."""
    return sum(
        1 for line in trace_text.splitlines()
        if "csd_queue_cpu:" in line and f"cpu={cpu} " in line and "func=trigger_rx_softirq" in line
    )  # fmt: skip


# -- the kernel side -------------------------------------------------------------------------------


@attrs.frozen
class Trial:
    defer_max: int
    skbs: int  # skbs closed (verified before the closes)
    net_rx: int  # NET_RX runs on CPU A around the closes
    cal: int  # function-call interrupts on CPU A
    ipis: int | None  # defer IPIs queued to A (None: no tracefs)
    close_ns: tuple[int, ...]  # close() wall time per socket
    purge_ns: tuple[int, ...] = ()  # close() entry to TCP_CLOSE per socket (traced; empty without tracefs)


def read_sysctl() -> int:
    return int(SYSCTL.read_text())


def write_sysctl(value: int) -> None:
    SYSCTL.write_text(f"{value}\n")


@contextlib.contextmanager
def sysctl_restored() -> Iterator[int]:
    original = read_sysctl()
    try:
        yield original
    finally:
        write_sysctl(original)


# close(2)'s number, for the purge timing (the syscall tracepoint filters on it).
NR_CLOSE = {"x86_64": 3, "aarch64": 57}.get(platform.machine())
# The events the probe traces: defer IPIs, and close() entry and the socket's move to TCP_CLOSE
# (made at the close decision, right after the purge loop) for the purge time.
EVENTS = ("csd/csd_queue_cpu", "raw_syscalls/sys_enter", "sock/inet_sock_set_state")


@attrs.define
class Tracer:
    """A tracefs instance of the probe's own (the global trace buffer is left alone)."""

    inst: Path

    def clear(self) -> None:
        (self.inst / "trace").write_text("")

    def text(self) -> str:
        return (self.inst / "trace").read_text()

    def follow(self, tid: int) -> None:
        """Record close() entries and moves to TCP_CLOSE of thread ``tid`` only."""
        (self.inst / "events" / "raw_syscalls" / "sys_enter" / "filter").write_text(
            f"common_pid == {tid} && id == {NR_CLOSE if NR_CLOSE is not None else -1}\n"
        )
        (self.inst / "events" / "sock" / "inet_sock_set_state" / "filter").write_text(
            f"common_pid == {tid} && newstate == 7\n"
        )


@contextlib.contextmanager
def tracer_instance() -> Iterator[Tracer | None]:
    """Yield a Tracer with EVENTS enabled, or None when tracefs cannot be used; the instance is
    removed afterwards."""
    inst = TRACEFS / "instances" / f"tcpclose-{os.getpid()}"
    try:
        if not (TRACEFS / "instances").is_dir():
            subprocess_mount()
        inst.mkdir()
        tracer = Tracer(inst)
        tracer.follow(-1)  # nothing from the syscall and socket events until a closer is named
        for event in EVENTS:
            (inst / "events" / event / "enable").write_text("1\n")
    except OSError:
        with contextlib.suppress(OSError):
            inst.rmdir()
        yield None
        return
    try:
        yield tracer
    finally:
        with contextlib.suppress(OSError):
            for event in EVENTS:
                (inst / "events" / event / "enable").write_text("0\n")
            inst.rmdir()


def subprocess_mount() -> None:
    """Mount tracefs where the kernel expects it (a no-op error if that is not allowed)."""
    import subprocess

    subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)], capture_output=True, check=False)


def _send_all(senders: list[socket.socket], count: int, payload: bytes = b"x" * SEGMENT) -> None:
    for c in senders:
        for _ in range(count):
            c.send(payload)


def _pinned(cpu: int, fn: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            os.sched_setaffinity(0, {cpu})  # pid 0: this thread only
            fn()
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if errors:
        raise errors[0]


def _connections(n: int) -> tuple[socket.socket, list[socket.socket], list[socket.socket]]:
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # small and locked: no window growth
    lst.bind(("127.0.0.1", 0))
    lst.listen(n)
    senders, receivers = [], []
    for _ in range(n):
        c = socket.socket()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one skb per write
        c.connect(lst.getsockname())
        r, _ = lst.accept()
        r.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)  # hold ACKs: clones stay clones
        senders.append(c)
        receivers.append(r)
    return lst, senders, receivers


def _rmem_and_unread(s: socket.socket) -> tuple[int, int]:
    rmem = struct.unpack("9I", s.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36))[0]
    unread = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    return rmem, unread


def trial(sockets: int, sends: int, a: int, b: int, truesize: int | None, tracer: Tracer | None) -> Trial | None:
    """One trial at the current sysctl; None when the skb count check fails (discarded)."""
    lst, senders, receivers = _connections(sockets)
    try:
        _pinned(a, lambda: _send_all(senders, sends))
        time.sleep(ACK_WAIT)
        for r in receivers:
            rmem, unread = _rmem_and_unread(r)
            if unread != sends * SEGMENT or (truesize is not None and rmem != sends * truesize):
                return None
        result: dict[str, object] = {}

        def close_all() -> None:
            time.sleep(0.005)
            softirq0 = parse_softirqs(Path("/proc/softirqs").read_text())["NET_RX"][a]
            cal0 = parse_interrupts(Path("/proc/interrupts").read_text()).get("CAL", [0] * (a + 1))[a]
            if tracer is not None:
                tracer.follow(threading.get_native_id())
                tracer.clear()
            times = []
            for r in receivers:
                t0 = time.perf_counter_ns()
                r.close()
                times.append(time.perf_counter_ns() - t0)
            time.sleep(0.05)  # let the kicked CPU run its NET_RX
            traced = tracer.text() if tracer is not None else ""
            if tracer is not None:
                tracer.follow(-1)
            result["net_rx"] = parse_softirqs(Path("/proc/softirqs").read_text())["NET_RX"][a] - softirq0
            result["cal"] = parse_interrupts(Path("/proc/interrupts").read_text()).get("CAL", [0] * (a + 1))[a] - cal0
            result["ipis"] = count_defer_ipis(traced, a) if tracer is not None else None
            result["times"] = tuple(times)
            result["purge"] = tuple(purge_times_ns(traced))

        _pinned(b, close_all)
        return Trial(read_sysctl(), sockets * sends, int(result["net_rx"]), int(result["cal"]),  # type: ignore[call-overload]
                     result["ipis"], result["times"], result["purge"])  # type: ignore[arg-type]  # fmt: skip
    finally:
        for s in (*senders, *receivers, lst):
            s.close()


def calibrate_truesize(a: int) -> int | None:
    """The truesize of one received 1000-byte skb (SO_MEMINFO rmem of a one-write connection)."""
    lst, senders, receivers = _connections(1)
    try:
        _pinned(a, lambda: _send_all(senders, 1))
        time.sleep(ACK_WAIT)
        rmem, unread = _rmem_and_unread(receivers[0])
        return rmem if unread == SEGMENT else None
    finally:
        for s in (*senders, *receivers, lst):
            s.close()


def rearm(a: int, b: int, original: int) -> None:
    """Un-wedge A's slot for B's node (F5): a maximum above any count, one deferred skb, then
    NET_RX on A (a loopback write from A is received in A's softirq) flushes and resets it."""
    write_sysctl(1 << 30)
    lst, senders, receivers = _connections(1)
    try:
        _pinned(a, lambda: _send_all(senders, 1))
        time.sleep(ACK_WAIT)
        _pinned(b, receivers[0].close)
        with contextlib.suppress(OSError):  # the RST may already have closed it
            _pinned(a, lambda: _send_all(senders, 1, b"y"))  # received in A's NET_RX: a flush
        time.sleep(0.05)
    finally:
        for s in (*senders, *receivers, lst):
            with contextlib.suppress(OSError):
                s.close()
        write_sysctl(original)


# -- the spec side ---------------------------------------------------------------------------------


@attrs.frozen
class Prediction:
    ipis_min: int  # every IPI after the closes: the fewest
    ipis_max: int  # every IPI and flush before the next skb: a new epoch each time, the most
    deferred: int  # skbs handed to A's slot (eager schedule)
    fallbacks: int
    close_ns: float  # the cost model's close() time for the whole workload (VM profile)
    ipis_fair: int  # IPIs in the fair run the close time comes from


def predict(sockets: int, sends: int, defer_max: int, carried_count: int = 0) -> Prediction:
    """The spec's run of the same workload on a 2-CPU, 1-node machine (A is CPU 0, B CPU 1),
    with A's slot starting at ``carried_count`` and an empty list."""
    packets = [Incoming(cpu=0, length=SEGMENT, truesize=2304) for _ in range(sends)]
    socks = [spec_socket(i, packets, [UserOp("close", 1)]) for i in range(sockets)]
    state = boot(Config(), (0, 0), defer_max, socks)
    if carried_count:
        state = _with_count(state, carried_count)
    counts = []
    # Every IPI and flush before the next skb (the most epochs), or every IPI after the closes.
    for slow in ((PurgeStep,), (IpiDeliver,)):
        result = run(state, slow=slow)
        ipis = sum(
            1 for pre, post in zip(result.states, result.states[1:], strict=False)
            if post.cpus[0].ipi_queued > pre.cpus[0].ipi_queued
        )  # fmt: skip
        counts.append(ipis)
    fair = run(state)
    frees = [f.how for skb in fair.final.skbs for f in skb.frees]
    deferred = sum(1 for skb in fair.final.skbs if skb.deferred is not None)
    # This machine is a KVM guest without IPI virtualisation: the cost profile that says so.
    close_ns = sum(measure(fair, "intel-2s-vm").close_ns)
    ipis_fair = sum(1 for a in fair.actions if isinstance(a, IpiDeliver))
    return Prediction(min(counts), max(counts), deferred, frees.count("nodefer:full"), close_ns, ipis_fair)


def _with_count(state: State, count: int) -> State:
    """A booted state whose CPU 0 slot for node 0 starts at ``count`` (carried from an earlier
    trial whose list was flushed empty)."""
    cpu0 = state.cpus[0]
    slot = attrs.evolve(cpu0.defer_slots[0], defer_count=count)
    cpus = (attrs.evolve(cpu0, defer_slots=(slot, *cpu0.defer_slots[1:])), *state.cpus[1:])
    return attrs.evolve(state, cpus=cpus)


# -- the whole probe -------------------------------------------------------------------------------


@attrs.frozen
class Row:
    defer_max: int
    trials: tuple[Trial, ...]
    baseline: tuple[Trial, ...]  # the paired skb_defer_max 0 trials
    prediction: Prediction
    baseline_prediction: Prediction  # the same workload at skb_defer_max 0

    def median_purge_ns(self) -> float:
        purges = [t for tr in self.trials for t in tr.purge_ns]
        return statistics.median(purges) if purges else float("nan")

    def median_close_ns(self, of: tuple[Trial, ...]) -> float:
        return statistics.median(t for tr in of for t in tr.close_ns) if of else float("nan")

    @property
    def ipis(self) -> list[int]:
        return [t.ipis if t.ipis is not None else t.net_rx for t in self.trials]

    @property
    def agrees(self) -> bool:
        return all(self.prediction.ipis_min <= n <= self.prediction.ipis_max for n in self.ipis)

    @property
    def measured_ratio(self) -> float:
        """Median close() time against the paired skb_defer_max 0 trials."""
        return self.median_close_ns(self.trials) / self.median_close_ns(self.baseline)

    @property
    def predicted_ratio(self) -> float:
        base = self.baseline_prediction.close_ns
        return self.prediction.close_ns / base if base else float("nan")

    def disagreement(self) -> str | None:
        """Why measurement and model part, as far as the probe can tell; None when they agree."""
        why = []
        low = [n for n in self.ipis if n < self.prediction.ipis_min]
        high = [n for n in self.ipis if n > self.prediction.ipis_max]
        if low:
            why.append(
                f"skb_defer_max {self.defer_max}: fewer IPIs ({low}) than the rules allow: NET_RX from other "
                "traffic on A flushed before the kick point, or A's slot was wedged (F5)"
            )
        if high:
            why.append(
                f"skb_defer_max {self.defer_max}: more IPIs ({high}) than the rules allow for one slot: "
                "another producer deferred to A during the trial"
            )
        if self.direction_agrees is False:
            why.append(
                f"skb_defer_max {self.defer_max}: the cost model says close() costs {self.predicted_ratio:.2f}x "
                f"the max-0 close ({self.prediction.ipis_fair} IPIs charged at the VM profile's send cost); "
                f"measured {self.measured_ratio:.2f}x with IPIs {self.ipis}: sending an IPI costs the closing "
                "CPU less here than the profile's tenfold VM exit"
            )
        return "; ".join(why) or None

    @property
    def direction_agrees(self) -> bool | None:
        """Whether close() got cheaper (or dearer) against max 0 as the cost model says; None when
        the measured change is within the noise (10%)."""
        measured = self.measured_ratio
        if math.isnan(measured) or abs(measured - 1) < 0.10:
            return None
        return (measured < 1) == (self.predicted_ratio < 1)


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


def check_environment(a: int, b: int) -> None:
    if os.geteuid() != 0:
        raise ProbeUnavailable("tcpclose probe needs root (it writes net.core.skb_defer_max)")
    cpus = os.cpu_count() or 1
    if cpus < 2:
        raise ProbeUnavailable("tcpclose probe needs two CPUs (a sender and a closer)")
    if not SYSCTL.exists():
        raise ProbeUnavailable(f"{SYSCTL} is absent: this kernel has no skb defer lists")
    if not (0 <= a < cpus and 0 <= b < cpus and a != b):
        raise ProbeUnavailable(f"CPUs {a}:{b} must be two different CPUs below {cpus}")


def probe(
    *, a: int, b: int, defer_maxes: tuple[int, ...], sockets: int, sends: int, reps: int,
    progress: Callable[[str], None] = lambda _: None,
) -> Report:  # fmt: skip
    check_environment(a, b)
    if not 1 <= sends <= 10:
        raise SpecError("--sends must be between 1 and 10 (the initial congestion window)")
    if sockets < 1 or reps < 1 or any(d < 0 for d in defer_maxes):
        raise SpecError("--sockets and --reps must be >= 1 and every --defer-max >= 0")
    with sysctl_restored() as original, tracer_instance() as tracer:
        truesize = calibrate_truesize(a)
        trials: dict[int, list[Trial]] = {d: [] for d in defer_maxes}
        baselines: dict[int, list[Trial]] = {d: [] for d in defer_maxes}
        discarded = 0
        for rep in range(reps):
            for d in defer_maxes:
                for value, into in ((d, trials[d]), (0, baselines[d])):
                    progress(f"rep {rep + 1}/{reps}: skb_defer_max {value}")
                    rearm(a, b, original)
                    write_sysctl(value)
                    got = trial(sockets, sends, a, b, truesize, tracer)
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
        write_sysctl(0)
        for _ in range(original // (sockets * sends) + 1):
            trial(sockets, sends, a, b, truesize, tracer)
        write_sysctl(original)
        wedged = trial(sockets, sends, a, b, truesize, tracer)
        rearm(a, b, original)
        fresh = trial(sockets, sends, a, b, truesize, tracer)
        rearm(a, b, original)

    def kicked(t: Trial | None) -> int:
        return -1 if t is None else (t.ipis if t.ipis is not None else t.net_rx)

    return Report(
        a, b, original, truesize, rows, discarded, tracer is not None,
        defers_before_rearm=kicked(wedged) > 0, defers_after_rearm=kicked(fresh) > 0,
        wedged_demo=(kicked(fresh), kicked(wedged)),
    )  # fmt: skip
