"""The primitives every live command runs on this machine's kernel, over loopback only.

- Connections whose receiver holds its ACKs (TCP_QUICKACK 0, a small locked SO_RCVBUF) and
  whose sender writes with TCP_NODELAY from a pinned thread: every write of 1000 bytes is one
  skb, a fast clone of the sender's, so it keeps the sender's CPU as ``alloc_cpu``.
- ``pinned(cpu, fn)``: run a system call from a thread bound to one CPU (the thread id is kept,
  so that trace events can be told apart from other processes').
- ``netrx(cpu)``: NET_RX on that CPU: a UDP datagram to ourselves, sent from that CPU, is
  received by the loopback device in that CPU's softirq, which flushes its defer slots first.
- ``Tracer``: a tracefs instance of our own (the global buffer is left alone), with markers.
- /proc parsing (softirqs, interrupts, sockstat) and trace parsing, pure, tested on samples.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

SO_MEMINFO = 55  # include/uapi/asm-generic/socket.h
SK_MEMINFO_RMEM_ALLOC, SK_MEMINFO_FWD_ALLOC = 0, 4  # include/uapi/linux/sock_diag.h (2 is WMEM_ALLOC)
SEGMENT = 1000
ACK_WAIT = 0.25  # longer than the delayed-ACK timer's first firing (40 ms min, 200 ms max)
SETTLE = 0.02  # for a queued IPI to be handled and its NET_RX to run (microseconds in practice)


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


def parse_sockstat(text: str) -> dict[str, dict[str, int]]:
    """/proc/net/sockstat: protocol -> field -> value (``TCP`` ``mem`` is in pages)."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        proto, _, rest = line.partition(":")
        words = rest.split()
        out[proto.strip()] = {k: int(v) for k, v in zip(words[::2], words[1::2], strict=False) if v.isdigit()}
    return out


# -- trace parsing ---------------------------------------------------------------------------------

_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s?(?P<body>.*)$"
)


@attrs.frozen
class Event:
    """One line of a trace: who (thread id), where (CPU), when, what."""

    pid: int
    cpu: int
    ts: float
    event: str
    body: str

    @property
    def is_defer_ipi(self) -> bool:
        return self.event == "csd_queue_cpu" and "func=trigger_rx_softirq" in self.body

    @property
    def target(self) -> int:
        """The CPU a csd_queue_cpu event queues to."""
        m = re.search(r"\bcpu=(\d+)", self.body)
        return int(m.group(1)) if m else -1

    @property
    def is_net_rx(self) -> bool:
        return self.event == "softirq_entry" and "NET_RX" in self.body

    @property
    def is_flush_free(self) -> bool:
        """An skb freed by skb_defer_free_flush() (napi_consume_skb() traces consume_skb)."""
        return self.event == "consume_skb" and "location=skb_defer_free_flush" in self.body

    @property
    def marker(self) -> str | None:
        return self.body.strip() if self.event == "tracing_mark_write" else None


def parse_trace(text: str) -> list[Event]:
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m is not None:
            out.append(Event(int(m["pid"]), int(m["cpu"]), float(m["ts"]), m["event"], m["body"]))
    return out


def count_defer_ipis(trace_text: str, cpu: int) -> int:
    """Defer IPIs queued to ``cpu`` in a csd:csd_queue_cpu trace (func trigger_rx_softirq)."""
    return sum(1 for e in parse_trace(trace_text) if e.is_defer_ipi and e.target == cpu)


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


# -- tracefs ---------------------------------------------------------------------------------------


@attrs.define
class Tracer:
    """A tracefs instance of ours (created and removed by live.machine.Saved)."""

    inst: Path

    def enable(self, events: Iterable[str], filters: dict[str, str] | None = None) -> None:
        for event, expr in (filters or {}).items():
            (self.inst / "events" / event / "filter").write_text(expr + "\n")
        for event in events:
            (self.inst / "events" / event / "enable").write_text("1\n")

    def clear(self) -> None:
        (self.inst / "trace").write_text("")

    def mark(self, text: str) -> None:
        (self.inst / "trace_marker").write_text(text + "\n")

    def text(self) -> str:
        return (self.inst / "trace").read_text()

    def filter(self, event: str, expr: str) -> None:
        (self.inst / "events" / event / "filter").write_text(expr + "\n")


# -- sockets and pinned threads --------------------------------------------------------------------


def pinned(cpu: int, fn: Callable[[], None], tids: set[int] | None = None) -> None:
    """Run ``fn`` in a thread bound to ``cpu``; its thread id joins ``tids``; errors re-raised."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            if tids is not None:
                tids.add(threading.get_native_id())
            os.sched_setaffinity(0, {cpu})  # pid 0: this thread only
            fn()
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if errors:
        raise errors[0]


def send_all(senders: list[socket.socket], count: int, payload: bytes = b"x" * SEGMENT) -> None:
    for c in senders:
        for _ in range(count):
            c.send(payload)


def connections(n: int) -> tuple[socket.socket, list[socket.socket], list[socket.socket]]:
    """A listener and ``n`` (sender, receiver) pairs over 127.0.0.1."""
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # small and locked: no window growth
    lst.bind(("127.0.0.1", 0))
    lst.listen(max(n, 1))
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


def close_quietly(socks: Iterable[socket.socket]) -> None:
    for s in socks:
        with contextlib.suppress(OSError):
            s.close()


def meminfo(s: socket.socket) -> tuple[int, int]:
    """SO_MEMINFO: (sk_rmem_alloc, sk_forward_alloc)."""
    info = struct.unpack("9I", s.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36))
    return info[SK_MEMINFO_RMEM_ALLOC], struct.unpack("i", struct.pack("I", info[SK_MEMINFO_FWD_ALLOC]))[0]


def unread(s: socket.socket) -> int:
    return int(struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])


def rmem_and_unread(s: socket.socket) -> tuple[int, int]:
    return meminfo(s)[0], unread(s)


def netrx(cpu: int, tids: set[int] | None = None) -> None:
    """NET_RX on ``cpu``: a datagram to ourselves over loopback, sent from ``cpu``, is received in
    that CPU's softirq before send() returns (loopback xmit queues it to this CPU's backlog)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send() -> None:
        u.sendto(b"n", u.getsockname())

    try:
        u.bind(("127.0.0.1", 0))
        pinned(cpu, send, tids)
    finally:
        u.close()


def calibrate_truesize(a: int) -> int | None:
    """The truesize of one received 1000-byte skb (SO_MEMINFO rmem of a one-write connection)."""
    lst, senders, receivers = connections(1)
    try:
        pinned(a, lambda: send_all(senders, 1))
        time.sleep(ACK_WAIT)
        rmem, left = rmem_and_unread(receivers[0])
        return rmem if left == SEGMENT else None
    finally:
        close_quietly((*senders, *receivers, lst))
