"""``tcpclose live --hotplug``: finding F2 on the real kernel.

F2 (properties/findings.py): a kick that races the target CPU going offline finds
``defer_ipi_scheduled`` clear, sets it, and queues an IPI that smp_call_function_single_async()
refuses (-ENXIO, FACTS §14); nothing clears the flag again, so every later kick to that CPU sends
nothing. On the kernel the flag cannot be read, but its effect can: a close that must kick
(``skb_defer_max`` 3: the second deferred skb of an epoch kicks) queues a defer IPI to that CPU
when the flag is clear, and none when it is stuck.

The race: connections whose skbs are built on the hotpluggable CPU are closed on another CPU,
one after the other without pause, while the main thread takes the CPU offline and brings it
back. Before and after, a control close shows whether a kick still sends an IPI. For the kick to
meet the offline, the closing task must be stopped between its online check and its kick; the
offline runs under stop_machine(), which waits for every CPU to reach its stopper thread, so
that can only happen on a preemptible kernel (FACTS §14). The result says which preemption
model this kernel booted with, read from the kernel log.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import attrs

from live import kernel as K
from live.kernel import parse_trace
from live.machine import Machine

RACE_MAX = 3  # the second skb of every epoch kicks, so kicks are as frequent as they get
RACE_CONNS = 200  # at CLOSE_GAP apart they outlast an offline/online cycle (about 0.1 s here)
CLOSE_GAP = 0.0005
CONTROL_WRITES = 10


@attrs.frozen
class F2Result:
    cpu: int  # the CPU taken offline (the skbs' alloc_cpu)
    rounds: int
    closes: int  # closes made while the CPU went offline and came back
    ipis_before: int  # defer IPIs to ``cpu`` from the control close before the race
    ipis_during: int
    ipis_after: int  # from the control close after the race: 0 means the flag is stuck (F2)
    preempt: str  # the preemption model the kernel log names ("none", "voluntary", "full", ...)

    @property
    def stuck(self) -> bool:
        return self.ipis_before > 0 and self.ipis_after == 0

    def verdict(self) -> str:
        if self.stuck:
            return (f"F2 seen live: after the race a close that must kick sent no IPI to CPU {self.cpu}: "
                    "defer_ipi_scheduled stays set until reboot (NET_RX still flushes the slots)")  # fmt: skip
        why = (
            "as expected under preemption model 'none': the closing task cannot be stopped between its online "
            "check and its kick, so stop_machine() never lands in that window"
            if self.preempt == "none"
            else f"under preemption model '{self.preempt}' the window exists but was not hit"
        )
        return (f"F2 not reproduced: kicks to CPU {self.cpu} still send IPIs after {self.rounds} offline/online "
                f"cycle(s) during {self.closes} cross-CPU closes ({why})")  # fmt: skip


def preemption_model() -> str:
    """The kernel's preemption model, from its boot log ("Dynamic Preempt: none")."""
    try:
        log = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    for line in log.splitlines():
        if "Dynamic Preempt:" in line:
            return line.rsplit(":", 1)[1].strip()
    return "unknown"


def _ipis(text: str, cpu: int, ours: set[int], window: str) -> int:
    inside, n = False, 0
    for e in parse_trace(text):
        if e.marker is not None:
            inside = e.marker.endswith(window)
        elif inside and e.is_defer_ipi and e.target == cpu and e.pid in ours:
            n += 1
    return n


def _close_while(toggler: threading.Thread, receivers: list[socket.socket], closer: int, ours: set[int]) -> int:
    """Close receivers from ``closer``, a little apart, for as long as the CPU is going down and
    coming back; returns how many were closed."""
    closed = 0

    def body() -> None:
        nonlocal closed
        for r in receivers:
            if not toggler.is_alive():
                return
            r.close()
            closed += 1
            time.sleep(CLOSE_GAP)

    K.pinned(closer, body, ours)
    return closed


def f2_race(machine: Machine, tracer: K.Tracer, original: int, cpu: int, rounds: int = 3) -> F2Result:
    """Race cross-CPU closes against ``cpu`` going offline and back, ``rounds`` times; the
    sysctl goes back to ``original`` after each part (live.machine.guarded() restores the rest)."""
    closer = next(c for c in range(machine.cpus()) if c != cpu)
    ours: set[int] = set()
    tracer.clear()

    def control(label: str) -> None:
        lst, senders, receivers = K.connections(1)
        try:
            K.pinned(cpu, lambda: K.send_all(senders, CONTROL_WRITES))
            time.sleep(K.ACK_WAIT)
            machine.write_defer_max(RACE_MAX)
            tracer.mark(f"tcpclose f2 {label}")
            K.pinned(closer, receivers[0].close, ours)
            K.netrx(cpu)
            time.sleep(K.SETTLE)
        finally:
            machine.write_defer_max(original)
            K.close_quietly((*senders, *receivers, lst))

    control("before")
    closes = 0
    for _ in range(rounds):
        lst, senders, receivers = K.connections(RACE_CONNS)
        try:
            K.pinned(cpu, lambda senders=senders: K.send_all(senders, CONTROL_WRITES))  # type: ignore[misc]
            time.sleep(K.ACK_WAIT)
            machine.write_defer_max(RACE_MAX)
            tracer.mark("tcpclose f2 during")

            def toggle() -> None:
                machine.set_online(cpu, False)
                machine.set_online(cpu, True)

            toggler = threading.Thread(target=toggle)
            toggler.start()
            closes += _close_while(toggler, receivers, closer, ours)
            toggler.join()
        finally:
            machine.set_online(cpu, True)
            machine.write_defer_max(original)
            K.close_quietly((*senders, *receivers, lst))
    K.netrx(cpu)
    control("after")
    tracer.mark("tcpclose f2 end")
    text = tracer.text()
    return F2Result(
        cpu, rounds, closes, _ipis(text, cpu, ours, "before"), _ipis(text, cpu, ours, "during"),
        _ipis(text, cpu, ours, "after"), preemption_model(),
    )  # fmt: skip
