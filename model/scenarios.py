"""Workloads: initial states (and scripted environment events) for the questions users ask.

Each builder returns a Scenario: a spec state with every socket's packets and system calls
scripted, plus triggers for environment events. Packets carry ``length`` bytes of payload
and a ``truesize`` of 2304 bytes by default (a 1448-byte segment in a 2 KiB buffer plus the
sk_buff head; any value works, it only scales the accounting).
"""

from __future__ import annotations

from typing import Any

import attrs

from model import kernels
from model.machines import MACHINES
from model.scheduler import Trigger
from spec import (
    Action,
    CloseDecide,
    CloseStart,
    Config,
    CpuOffline,
    Env,
    Incoming,
    PacketArrives,
    PurgeStep,
    RecvEnd,
    Sock,
    State,
    UserOp,
    boot,
)
from spec.core import SpecError

TRUESIZE = 2304
LENGTH = 1448
ISN = 1_000_000  # initial receive sequence number; tests move it next to 2**32 for wrap-around


@attrs.frozen
class Scenario:
    """A workload and how the scheduler runs it: ``triggers`` fire scripted steps, ``hold`` names
    the kinds of step only triggers take (model/scheduler.py)."""

    name: str
    doc: str
    state: State
    triggers: tuple[Trigger, ...] = ()
    hold: tuple[type[Action], ...] = ()


def kernel(name: str, **overrides: Any) -> tuple[Config, int]:
    """A named kernel's Config and default skb_defer_max, with Config fields overridden."""
    k = kernels.kernel(name)
    return attrs.evolve(k.config(), **overrides), k.defer_max


def socket(
    sk: int,
    packets: list[Incoming],
    ops: list[UserOp],
    *,
    state: str = "ESTABLISHED",
    isn: int = ISN,
    reserved_pages: int = 0,
    page_size: int = 4096,
    **fields: object,
) -> Sock:
    """A connected socket with its workload; ``reserved_pages`` of SO_RESERVE_MEM."""
    reserved = reserved_pages * page_size
    return Sock(
        id=sk,
        sk_state=state,  # type: ignore[arg-type]
        rcv_nxt=isn,
        copied_seq=isn,
        sk_reserved_mem=reserved,
        sk_forward_alloc=reserved,
        ops=tuple(ops),
        rx=tuple(packets),
        **fields,  # type: ignore[arg-type]
    )


def attack(
    *,
    kernel_name: str = "v6.18",
    machine: str = "2cpu-1node",
    sockets: int = 4,
    skbs: int = 40,
    alloc_cpu: int = 0,
    close_cpu: int = 1,
    defer_max: int | None = None,
    offline_after: int | None = None,
    config: Config | None = None,
    turns: bool = False,
) -> Scenario:
    """K sockets x N unread skbs built on ``alloc_cpu``, all closed on ``close_cpu`` (the case
    b13592d20b21 was written for). ``offline_after``: take ``alloc_cpu`` offline after that
    many purge steps of socket 0. ``turns``: the sockets take turns, as under a sustained attack:
    socket k's packets arrive once socket k - 1's close has decided, and socket k is closed once
    they are all queued, so each arrival's NET_RX run on ``alloc_cpu`` first flushes what the
    earlier closes deferred there (FACTS §14); otherwise every packet arrives first."""
    cfg, dmax = kernel(kernel_name)
    cfg = config or cfg
    cpu_nodes = _machine(machine)
    socks = [
        socket(
            i,
            [Incoming(cpu=alloc_cpu, length=LENGTH, truesize=TRUESIZE) for _ in range(skbs)],
            [UserOp("close", close_cpu)],
            page_size=cfg.page_size,
        )
        for i in range(sockets)
    ]
    env = Env(offlines=1) if offline_after is not None else Env()
    state = boot(cfg, cpu_nodes, dmax if defer_max is None else defer_max, socks, env)
    triggers: tuple[Trigger, ...] = ()
    if offline_after is not None:
        triggers = (Trigger(CpuOffline(alloc_cpu), after=PurgeStep(0), count=offline_after),)
    hold: tuple[type[Action], ...] = ()
    if turns:
        hold = (PacketArrives, CloseStart)
        for k in range(sockets):
            after = CloseDecide(k - 1) if k else None
            triggers += tuple(Trigger(PacketArrives(k), after=after, count=int(k > 0)) for _ in range(skbs))
            triggers += (Trigger(CloseStart(k), after=PacketArrives(k), count=skbs),)
    shape = ", sockets in turn" if turns else ""
    return Scenario(
        "attack",
        f"{sockets} sockets x {skbs} unread skbs built on CPU {alloc_cpu}, closed on CPU {close_cpu}{shape}",
        state,
        triggers,
        hold,
    )


def recvmsg_steady(
    *,
    kernel_name: str = "v6.18",
    machine: str = "2cpu-1node",
    skbs: int = 40,
    rx_cpu: int = 0,
    app_cpu: int = 1,
    config: Config | None = None,
    paced: bool = False,
) -> Scenario:
    """One socket whose application reads every segment, then closes: the steady state in which
    recvmsg() has deferred frees since 2022, and close finds nothing unread. ``paced``: each
    segment arrives after the application has read the one before (the reader keeps up), so each
    arrival's NET_RX run on ``rx_cpu`` first flushes the segment read before it (FACTS §14);
    otherwise every segment arrives first and the reads follow."""
    cfg, dmax = kernel(kernel_name)
    cfg = config or cfg
    ops = [UserOp("recv", app_cpu, LENGTH) for _ in range(skbs)] + [UserOp("close", app_cpu)]
    sock = socket(0, [Incoming(cpu=rx_cpu, length=LENGTH, truesize=TRUESIZE) for _ in range(skbs)], ops)
    state = boot(cfg, _machine(machine), dmax, [sock])
    doc = f"{skbs} segments received on CPU {rx_cpu}, read on CPU {app_cpu}"
    if not paced:
        return Scenario("recvmsg", doc, state)
    triggers = tuple(Trigger(PacketArrives(0), after=RecvEnd(0) if i else None, count=i) for i in range(skbs))
    return Scenario("recvmsg", doc + ", each read before the next arrives", state, triggers, (PacketArrives,))


def _machine(name: str) -> tuple[int, ...]:
    if name not in MACHINES:
        raise SpecError(f"unknown machine {name!r} (known: {', '.join(MACHINES)})")
    return MACHINES[name].cpu_nodes
