"""The one place that saves and restores the machine state every live command touches.

A live command changes three things a user expects back: ``net.core.skb_defer_max``, which CPUs
are online (``--hotplug``), and tracefs (mounted if it was not, plus a trace instance of ours).
``guarded()`` records them on entry and puts them back on every way out: a normal return, an
exception, SIGINT and SIGTERM (both turned into exceptions, so that every ``finally`` runs).
CPUs are brought back online first, so that nothing else waits on a CPU the command took down.

``Machine`` reads and writes through a root directory: ``/`` on the real machine, a scratch
directory for the unit tests (the same files laid out under it, and no ``mount``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import attrs

from spec import SpecError


class LiveUnavailable(SpecError):
    """A live command cannot run here (not root, one CPU, no sysctl): one line, exit status 2."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: raised in the main thread so that the restore runs. A
    BaseException, as KeyboardInterrupt is, so that no ``except Exception`` (Hypothesis's
    included, which would take it for a failing example) swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


@attrs.define
class Machine:
    """Paths of the machine state under ``root``; ``real`` says whether mount(8) may be used."""

    root: Path = Path("/")
    real: bool = True

    @property
    def sysctl(self) -> Path:
        return self.root / "proc/sys/net/core/skb_defer_max"

    @property
    def tracefs(self) -> Path:
        return self.root / "sys/kernel/tracing"

    def online_file(self, cpu: int) -> Path:
        return self.root / f"sys/devices/system/cpu/cpu{cpu}/online"

    def proc(self, name: str) -> Path:
        return self.root / "proc" / name

    def read_defer_max(self) -> int:
        return int(self.sysctl.read_text())

    def write_defer_max(self, value: int) -> None:
        self.sysctl.write_text(f"{value}\n")

    def cpus(self) -> int:
        return os.cpu_count() or 1

    def hotpluggable(self) -> tuple[int, ...]:
        """CPUs this machine lets go offline (CPU 0 usually has no ``online`` file)."""
        return tuple(c for c in range(self.cpus()) if self.online_file(c).exists())

    def is_online(self, cpu: int) -> bool:
        f = self.online_file(cpu)
        return not f.exists() or f.read_text().strip() == "1"

    def set_online(self, cpu: int, online: bool) -> None:
        if self.is_online(cpu) != online:
            self.online_file(cpu).write_text("1\n" if online else "0\n")

    def tracefs_mounted(self) -> bool:
        return (self.tracefs / "instances").is_dir()

    def mount_tracefs(self) -> bool:
        """Mount tracefs if it is not; True when this call mounted it."""
        if self.tracefs_mounted():
            return False
        if self.real:
            subprocess.run(["mount", "-t", "tracefs", "nodev", str(self.tracefs)], capture_output=True, check=False)
        else:
            (self.tracefs / "instances").mkdir(parents=True)
        return self.tracefs_mounted()

    def unmount_tracefs(self) -> None:
        if self.real:
            subprocess.run(["umount", str(self.tracefs)], capture_output=True, check=False)
        else:
            (self.tracefs / "instances").rmdir()


@attrs.define
class Saved:
    """What ``guarded()`` found on entry, and what the command added since (to take away)."""

    machine: Machine
    defer_max: int
    online: dict[int, bool]
    mounted_by_us: bool = False
    instances: list[Path] = attrs.field(factory=list)

    def mount(self) -> bool:
        """Make tracefs usable; remembered so that the restore unmounts what it mounted."""
        if self.machine.mount_tracefs():
            self.mounted_by_us = True
        return self.machine.tracefs_mounted()

    def instance(self, name: str) -> Path:
        """Create a trace instance of ours (removed by the restore)."""
        inst = self.machine.tracefs / "instances" / name
        inst.mkdir()
        self.instances.append(inst)
        return inst

    def restore(self) -> list[str]:
        """Put everything back; returns what could not be restored (empty when all is well)."""
        problems = []
        for cpu, online in sorted(self.online.items()):  # CPUs first: nothing may wait on them
            try:
                self.machine.set_online(cpu, online)
            except OSError as err:
                problems.append(f"CPU {cpu} online={online}: {err}")
        try:
            self.machine.write_defer_max(self.defer_max)
        except OSError as err:
            problems.append(f"skb_defer_max {self.defer_max}: {err}")
        for inst in reversed(self.instances):
            _disable_events(inst)
            try:
                inst.rmdir()
            except OSError as err:
                problems.append(f"trace instance {inst.name}: {err}")
        self.instances.clear()
        if self.mounted_by_us:
            self.machine.unmount_tracefs()
            self.mounted_by_us = False
        return problems


def _disable_events(inst: Path) -> None:
    """tracefs refuses to remove an instance with events enabled on some kernels."""
    events = inst / "events"
    if not events.is_dir():
        return
    with contextlib.suppress(OSError):
        (events / "enable").write_text("0\n")


def check_environment(machine: Machine, what: str) -> None:
    """Root, two CPUs and the sysctl, or one clear line."""
    if machine.real and os.geteuid() != 0:
        raise LiveUnavailable(f"{what} needs root (it writes net.core.skb_defer_max)")
    if machine.cpus() < 2:
        raise LiveUnavailable(f"{what} needs two CPUs (a sender and a closer)")
    if not machine.sysctl.exists():
        raise LiveUnavailable(f"{machine.sysctl} is absent: this kernel has no skb defer lists")


@contextlib.contextmanager
def guarded(machine: Machine) -> Iterator[Saved]:
    """Save the sysctl, the CPUs' online states and tracefs; restore them however the block ends.

    SIGINT and SIGTERM raise ``Interrupted`` in the main thread for the duration (the previous
    handlers come back afterwards)."""
    saved = Saved(
        machine,
        machine.read_defer_max(),
        {c: machine.is_online(c) for c in machine.hotpluggable()},
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield saved
    finally:
        # A second signal during the restore must not cut it short.
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        try:
            problems = saved.restore()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if problems:
            print("tcpclose: could not restore: " + "; ".join(problems), file=sys.stderr)
