"""The workloads ``tcpclose live`` runs on the real kernel, and what the spec allows them to show.

A workload is what one user thread does over loopback: it opens connections (each with the CPU
its sender writes from and the number of 1000-byte writes, one skb each), then makes a sequence
of steps: reads of whole skbs, closes (each on a CPU), writes of ``skb_defer_max``, NET_RX on a
CPU (a datagram to itself), a CPU going offline or coming back. ``normalize`` turns any drawn
list into a workload the machine can run; ``script`` turns it, with the NET_RX runs the live
trace saw that no defer IPI explains, into the spec's scenario: one socket per connection with
its packets and calls, run by the fair scheduler's script (model/scheduler.py), one call after
the other as the user thread made them.

What the spec allows (``allowed``) comes from two runs of that scenario, the two ends of what
the kernel may do with the IPI's latency: every IPI delivered and flushed before the caller's
next skb (``eager``), and every IPI held until the thread has done everything (``late``). For
one producer at a time, the case of this thread, the number of kicks, IPIs and deferred skbs of
any other delivery order lies between the two (more flushes make more epochs, and every epoch
needs ``max >> 1`` + 1 attempts to kick). Accounting does not depend on the order and is one value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import attrs

from model.scenarios import kernel, socket
from model.scheduler import Run, run
from spec import (
    Action,
    CloseDecide,
    CloseStart,
    CpuOffline,
    CpuOnline,
    Env,
    Incoming,
    IpiDeliver,
    PurgeStep,
    RaiseNetRx,
    RecvCopy,
    RecvEnd,
    RecvStart,
    SetDeferMax,
    State,
    UserOp,
    boot,
)

SEGMENT = 1000  # bytes per write: one skb each (TCP_NODELAY, ACKs held)
MAX_WRITES = 10  # the initial congestion window: more would wait for an ACK
DEFER_MAXES = (0, 1, 2, 3, 4, 8, 16, 64, 128)  # the sysctl values drawn: each side of every rule

Kind = Literal["read", "close", "sysctl", "netrx", "offline", "online"]


@attrs.frozen
class Conn:
    sender: int  # the CPU the writes come from (every skb's alloc_cpu)
    writes: int


@attrs.frozen
class Step:
    kind: Kind
    conn: int = -1  # read, close
    cpu: int = -1  # read, close, netrx, offline, online
    value: int = 0  # read: skbs; sysctl: the new skb_defer_max

    def __str__(self) -> str:
        match self.kind:
            case "read":
                return f"read {self.value} skb(s) of conn {self.conn} on CPU {self.cpu}"
            case "close":
                return f"close conn {self.conn} on CPU {self.cpu}"
            case "sysctl":
                return f"skb_defer_max = {self.value}"
            case _:
                return f"{self.kind} CPU {self.cpu}"

    @property
    def is_call(self) -> bool:
        return self.kind in ("read", "close")


@attrs.frozen
class Workload:
    defer_max: int  # skb_defer_max when the steps begin
    conns: tuple[Conn, ...]
    steps: tuple[Step, ...]

    def describe(self) -> str:
        conns = ", ".join(f"conn {i}: {c.writes} skb(s) from CPU {c.sender}" for i, c in enumerate(self.conns))
        return f"skb_defer_max {self.defer_max}; {conns}; " + "; ".join(map(str, self.steps))


def normalize(
    defer_max: int, conns: Sequence[Conn], drawn: Sequence[Step], closes: Sequence[Step], cpus: int
) -> Workload:
    """A runnable workload from drawn parts: ``closes`` (one per connection, in order) are
    placed after ``drawn``'s steps at their ``value`` (a position); reads of a closed connection
    or of more skbs than are left are cut down or dropped; a sysctl write of the value in force is
    dropped; a call on an offline CPU moves to the
    lowest online one; hotplug steps that change nothing are dropped; at the end every CPU comes
    back online and NET_RX runs on each (the drain: every deferred skb is flushed, so each one
    shows as a free in the trace)."""
    placed: list[tuple[int, int, Step]] = [(i, 0, s) for i, s in enumerate(drawn)]
    placed += [(min(c.value, len(drawn)), 1, c) for c in closes]
    order = [s for _, _, s in sorted(placed, key=lambda t: (t[0], t[1]))]
    left = [c.writes for c in conns]
    closed: set[int] = set()
    online = [True] * cpus
    current = defer_max
    steps: list[Step] = []
    for s in order:
        cpu = s.cpu if 0 <= s.cpu < cpus else 0
        if s.is_call and not online[cpu]:
            cpu = online.index(True)
        if s.kind == "read":
            if s.conn in closed or not 0 <= s.conn < len(conns) or left[s.conn] == 0:
                continue
            n = min(max(s.value, 1), left[s.conn])
            left[s.conn] -= n
            steps.append(Step("read", s.conn, cpu, n))
        elif s.kind == "close":
            closed.add(s.conn)
            steps.append(Step("close", s.conn, cpu))
        elif s.kind == "sysctl":
            if s.value != current:  # a write of the same value changes nothing (the spec refuses it)
                current = s.value
                steps.append(Step("sysctl", value=s.value))
        elif s.kind == "netrx":
            if online[cpu]:
                steps.append(Step("netrx", cpu=cpu))
        elif s.kind == "offline":
            if online[cpu] and sum(online) > 1:
                online[cpu] = False
                steps.append(Step("offline", cpu=cpu))
        elif s.kind == "online" and not online[cpu]:
            online[cpu] = True
            steps.append(Step("online", cpu=cpu))
    steps += [Step("online", cpu=c) for c in range(cpus) if not online[c]]
    steps += [Step("netrx", cpu=c) for c in range(cpus)]
    return Workload(defer_max, tuple(conns), tuple(steps))


def scenario(
    w: Workload, truesize: int, cpus: int, env_netrx: Sequence[Sequence[int]] = ()
) -> tuple[State, list[Action | int]]:
    """The spec's initial state and script for ``w`` on a ``cpus``-CPU, one-node v6.18 machine
    whose skbs have ``truesize``; ``env_netrx[i]`` lists the CPUs on which the live run saw
    NET_RX during step ``i`` that no defer IPI explains (the step's own, from a netrx step, the
    RST or FIN a close sends over loopback, an ACK a read sends, or other traffic): each becomes
    an unrelated NET_RX right after the step."""
    config, _ = kernel("v6.18")
    ops: list[list[UserOp]] = [[] for _ in w.conns]
    for s in w.steps:
        if s.kind == "read":
            ops[s.conn].append(UserOp("recv", s.cpu, s.value * SEGMENT))
        elif s.kind == "close":
            ops[s.conn].append(UserOp("close", s.cpu))
    socks = [
        socket(i, [Incoming(cpu=c.sender, length=SEGMENT, truesize=truesize) for _ in range(c.writes)], ops[i])
        for i, c in enumerate(w.conns)
    ]
    online = [True] * cpus
    script: list[Action | int] = []
    raises = 0
    for i, s in enumerate(w.steps):
        if s.is_call:
            script.append(s.conn)
        elif s.kind == "sysctl":
            script.append(SetDeferMax(s.value))
        elif s.kind == "offline":
            script.append(CpuOffline(s.cpu))
            online[s.cpu] = False
        elif s.kind == "online":
            script.append(CpuOnline(s.cpu))
            online[s.cpu] = True
        for cpu in env_netrx[i] if i < len(env_netrx) else ():
            if 0 <= cpu < cpus and online[cpu]:
                script.append(RaiseNetRx(cpu))
                raises += 1
    sysctls = [s.value for s in w.steps if s.kind == "sysctl"]
    env = Env(
        netrx_raises=raises,
        offlines=sum(1 for s in w.steps if s.kind == "offline"),
        defer_max_values=tuple(sorted(set(sysctls))),
        defer_max_writes=len(sysctls),
    )
    return boot(config, (0,) * cpus, w.defer_max, socks, env), script


# The two ends of the IPI's latency (see the module's docstring).
SCHEDULES: dict[str, tuple[type[Action], ...]] = {
    "eager": (PurgeStep, RecvCopy, CloseDecide, RecvEnd),
    "late": (IpiDeliver,),
}


@attrs.frozen
class Outcome:
    """What one spec run of a workload shows, in the terms the live trace can see."""

    ipis: tuple[int, ...]  # defer IPIs queued to each CPU
    deferred: tuple[int, ...]  # skbs freed by a flush on each CPU
    final_count: tuple[int, ...]  # each CPU's slot count at the end
    meminfo: tuple[tuple[int, int], ...]  # (sk_rmem_alloc, sk_forward_alloc) before each call


def outcome(r: Run) -> Outcome:
    cpus = len(r.initial.cpus)
    ipis = [0] * cpus
    meminfo = []
    for pre, act, post in zip(r.states, r.actions, r.states[1:], strict=False):
        for c in range(cpus):
            ipis[c] += max(0, post.cpus[c].ipi_queued - pre.cpus[c].ipi_queued)
        if isinstance(act, RecvStart | CloseStart):
            sock = pre.sockets[act.sk]
            meminfo.append((sock.sk_rmem_alloc, sock.sk_forward_alloc))
    deferred = [0] * cpus
    for skb in r.final.skbs:
        for f in skb.frees:
            if f.how == "flush":
                deferred[f.cpu] += 1
    return Outcome(
        tuple(ipis), tuple(deferred), tuple(c.defer_slots[0].defer_count for c in r.final.cpus), tuple(meminfo)
    )


@attrs.frozen
class Allowed:
    """The observations the spec allows for one workload: per CPU ranges, the accounting, and
    whether a one-skb deferral at ``probe_max`` afterwards would be refused (the slot wedged)."""

    outcomes: dict[str, Outcome]
    probe_max: int

    def range(self, what: Literal["ipis", "deferred"], cpu: int) -> tuple[int, int]:
        values = [getattr(o, what)[cpu] for o in self.outcomes.values()]
        return min(values), max(values)

    def wedged(self, cpu: int) -> set[bool]:
        """Whether the next attempt at ``probe_max`` falls back (count + 1 >= max, FACTS §7)."""
        return {o.final_count[cpu] + 1 >= self.probe_max for o in self.outcomes.values()}

    @property
    def meminfo(self) -> tuple[tuple[int, int], ...]:
        return next(iter(self.outcomes.values())).meminfo

    @property
    def forbids_deferral(self) -> bool:
        return all(sum(o.deferred) == 0 for o in self.outcomes.values())


def allowed(
    w: Workload, truesize: int, cpus: int, env_netrx: Sequence[Sequence[int]], probe_max: int
) -> tuple[Allowed, dict[str, Run]]:
    state, script = scenario(w, truesize, cpus, env_netrx)
    runs = {name: run(state, script=script, slow=slow) for name, slow in SCHEDULES.items()}
    return Allowed({name: outcome(r) for name, r in runs.items()}, probe_max), runs
