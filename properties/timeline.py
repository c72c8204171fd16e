"""A run told as a story: one row per step, the CPU that acted, and what the step changed
(socket accounting, slot lists and counts, IPI and softirq flags, skb lifecycle).

Told in the kernel's words: fields by their kernel names, flags as the kernel's 0/1, places as
properties.report names them (one name per slot: ``slot(cpu1,node0)``), lists of skbs as
``skb0,skb1``; only what changed is shown, and a kick whose IPI is lost to an offline CPU
(-ENXIO) or never sent because ``defer_ipi_scheduled`` was already set says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from model import kernels
from model.scheduler import acting_cpu
from properties.report import context, place, skbs, slot
from spec import Action, DeferKick, State

SOCK_FIELDS = (
    "sk_state", "rcv_nxt", "copied_seq", "sk_rmem_alloc", "sk_forward_alloc", "rst_sent", "fin_sent",
    "TCPABORTONCLOSE", "TCPABORTONDATA",
)  # fmt: skip
CPU_FIELDS = ("defer_ipi_scheduled", "ipi_queued", "net_rx_pending", "napi_skb_cache", "per_cpu_fw_alloc")


@attrs.frozen
class Row:
    step: int
    action: str
    cpu: int | None  # the CPU that ran the step; None for the scheduler or a sysctl write
    changes: tuple[str, ...]


def _value(v: Any) -> str:
    return str(int(v)) if isinstance(v, bool) else str(v)


def _diff(prefix: str, before: Any, after: Any, names: Sequence[str]) -> list[str]:
    return [
        f"{prefix}.{n} {_value(getattr(before, n))}→{_value(getattr(after, n))}"
        for n in names
        if getattr(before, n) != getattr(after, n)
    ]


def changes(pre: State, post: State) -> list[str]:
    out: list[str] = []
    if pre.skb_defer_max != post.skb_defer_max:
        out.append(f"net.core.skb_defer_max {pre.skb_defer_max}→{post.skb_defer_max}")
    if pre.memory_allocated != post.memory_allocated:
        out.append(f"tcp_memory_allocated {pre.memory_allocated}→{post.memory_allocated}")
    for sb, sa in zip(pre.sockets, post.sockets, strict=True):
        out += _diff(f"sk{sa.id}", sb, sa, SOCK_FIELDS)
        for queue in ("sk_receive_queue", "sk_error_queue"):
            old, new = getattr(sb, queue), getattr(sa, queue)
            if old != new:
                out.append(f"sk{sa.id}.{queue} {skbs(old)}→{skbs(new)}")
        if (sb.owner is None) != (sa.owner is None) or (sb.owner and sa.owner and sb.owner.cpu != sa.owner.cpu):
            out.append(f"sk{sa.id} owned by {_task(sb)}→{_task(sa)}")
    for cb, ca in zip(pre.cpus, post.cpus, strict=True):
        if cb.online != ca.online:
            out.append(f"cpu{ca.id} {'online' if cb.online else 'offline'}→{'online' if ca.online else 'offline'}")
        out += _diff(f"cpu{ca.id}", cb, ca, CPU_FIELDS)
        lost = not ca.online and not cb.defer_ipi_scheduled and ca.defer_ipi_scheduled
        if lost and ca.ipi_queued == cb.ipi_queued:
            out.append(f"IPI to cpu{ca.id} lost: cpu{ca.id} offline (-ENXIO)")
        for n, (lb, la) in enumerate(zip(cb.defer_slots, ca.defer_slots, strict=True)):
            if lb.defer_list != la.defer_list:
                out.append(f"{slot(ca.id, n)}.defer_list {skbs(lb.defer_list)}→{skbs(la.defer_list)}")
            if lb.defer_count != la.defer_count:
                out.append(f"{slot(ca.id, n)}.defer_count {lb.defer_count}→{la.defer_count}")
        if (cb.softirq is None) != (ca.softirq is None):
            out.append(f"cpu{ca.id} NET_RX {'starts' if ca.softirq else 'ends'}")
    for i, skb in enumerate(post.skbs):
        if i >= len(pre.skbs):
            out.append(f"skb{i} built on cpu{skb.alloc_cpu} (truesize {skb.truesize}) → {place(skb.where)}")
            continue
        old_skb = pre.skbs[i]
        if old_skb.where != skb.where:
            out.append(f"skb{i} {place(old_skb.where)}→{place(skb.where)}")
        for f in skb.frees[len(old_skb.frees) :]:
            out.append(f"skb{i} freed on cpu{f.cpu} ({f.how})")
        if skb.stray_touches != old_skb.stray_touches:
            out.append(f"skb{i} written by {context(skb.stray_touches[-1])} after hand-off")
    return out


def _kick_note(pre: State, a: Action) -> list[str]:
    """A kick that sends nothing because the target's guard is already set (the IPI sent
    earlier has not run yet, or was lost), or, without the guard, the kick's test of the IPI
    descriptor's lock flag: invisible in the state diff, so said here."""
    if not isinstance(a, DeferKick):
        return []
    owner = pre.sockets[a.sk].owner
    ctx = owner.defer if owner is not None else None
    if ctx is not None and ctx.pc == "kick" and not pre.config.ipi_guard:  # before 97e719a82b43
        if pre.cpus[ctx.cpu].ipi_queued:
            return [f"no IPI to cpu{ctx.cpu}: its defer_csd is locked (queued), -EBUSY"]
        return [f"cpu{ctx.cpu}'s defer_csd found unlocked: queued at this task's next step"]
    if ctx is None or ctx.pc != "kick" or not pre.cpus[ctx.cpu].defer_ipi_scheduled:
        return []
    return [f"no IPI to cpu{ctx.cpu}: its defer_ipi_scheduled is already 1"]


def _task(sock: Any) -> str:
    return "nobody" if sock.owner is None else f"{sock.owner.op}() on cpu{sock.owner.cpu}"


def short(a: Action) -> str:
    """``PurgeStep sk0``, ``Migrate sk0 cpu1``, ``SetDeferMax 4``: an action in a table cell."""
    args = attrs.asdict(a)
    words = [f"{k}{v}" if k in ("sk", "cpu") else str(v) for k, v in args.items()]
    return " ".join([type(a).__name__, *words])


def header(initial: State) -> str:
    """The machine and configuration a timeline runs on, in one line; a configuration with a
    historical bug's behaviour (model/kernels.py pre_fix) names the fix it lacks."""
    cfg = initial.config
    cpus = ", ".join(f"cpu{c.id} on node{c.node}" for c in initial.cpus)
    lacks = "".join(f", without {s.id} ({s.title})" for s in kernels.pre_fix(cfg))
    return (
        f"{len(initial.cpus)} CPUs ({cpus}), {len(initial.sockets)} socket(s), {cfg.close_path}, {cfg.defer}, "
        f"unread test {cfg.unread_test}, hotplug flush {'on' if cfg.hotplug_flush else 'off'}, "
        f"preempt {cfg.preempt}, skb_defer_max {initial.skb_defer_max}{lacks}"
    )


def rows(states: Sequence[State], actions: Sequence[Action]) -> list[Row]:
    return [
        Row(
            i,
            short(a),
            acting_cpu(states[i - 1], a),
            tuple(changes(states[i - 1], states[i]) + _kick_note(states[i - 1], a)),
        )
        for i, a in enumerate(actions, 1)
    ]
