"""A run told as a story: one row per step, the CPU that acted, and what the step changed
(socket accounting, slot lists and counts, IPI and softirq flags, skb lifecycle)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from model.scheduler import acting_cpu
from spec import (
    Action,
    State,
)

SOCK_FIELDS = (
    "sk_state", "rcv_nxt", "copied_seq", "sk_rmem_alloc", "sk_forward_alloc", "rst_sent", "fin_sent",
    "TCPABORTONCLOSE", "TCPABORTONDATA",
)  # fmt: skip
CPU_FIELDS = (
    "online", "defer_ipi_scheduled", "ipi_queued", "net_rx_pending", "napi_skb_cache", "per_cpu_fw_alloc",
)  # fmt: skip


@attrs.frozen
class Row:
    step: int
    action: str
    cpu: int | None  # the CPU that ran the step; None for the scheduler or a sysctl write
    changes: tuple[str, ...]


def _diff(prefix: str, before: Any, after: Any, names: Sequence[str]) -> list[str]:
    return [
        f"{prefix}.{n} {getattr(before, n)}→{getattr(after, n)}"
        for n in names
        if getattr(before, n) != getattr(after, n)
    ]


def changes(pre: State, post: State) -> list[str]:
    out: list[str] = []
    if pre.skb_defer_max != post.skb_defer_max:
        out.append(f"skb_defer_max {pre.skb_defer_max}→{post.skb_defer_max}")
    if pre.memory_allocated != post.memory_allocated:
        out.append(f"memory_allocated {pre.memory_allocated}→{post.memory_allocated}")
    for sb, sa in zip(pre.sockets, post.sockets, strict=True):
        out += _diff(f"sk{sa.id}", sb, sa, SOCK_FIELDS)
        if sb.sk_receive_queue != sa.sk_receive_queue:
            out.append(f"sk{sa.id}.queue {list(sb.sk_receive_queue)}→{list(sa.sk_receive_queue)}")
        if (sb.owner is None) != (sa.owner is None) or (sb.owner and sa.owner and sb.owner.cpu != sa.owner.cpu):
            out.append(f"sk{sa.id}.task {_task(sb)}→{_task(sa)}")
    for cb, ca in zip(pre.cpus, post.cpus, strict=True):
        out += _diff(f"cpu{ca.id}", cb, ca, CPU_FIELDS)
        for n, (lb, la) in enumerate(zip(cb.defer_slots, ca.defer_slots, strict=True)):
            if lb != la:
                out.append(
                    f"cpu{ca.id}.slot[{n}] list {list(lb.defer_list)}→{list(la.defer_list)}, "
                    f"count {lb.defer_count}→{la.defer_count}"
                )
        if (cb.softirq is None) != (ca.softirq is None):
            out.append(f"cpu{ca.id} NET_RX {'starts' if ca.softirq else 'ends'}")
    for i, skb in enumerate(post.skbs):
        if i >= len(pre.skbs):
            out.append(f"skb{i} built on cpu{skb.alloc_cpu} ({skb.truesize} bytes) → {_where(skb.where)}")
            continue
        old = pre.skbs[i]
        if old.where != skb.where:
            out.append(f"skb{i} {_where(old.where)}→{_where(skb.where)}")
        for f in skb.frees[len(old.frees) :]:
            out.append(f"skb{i} freed on cpu{f.cpu} ({f.how})")
        if skb.stray_touches != old.stray_touches:
            out.append(f"skb{i} written by {skb.stray_touches[-1]} after hand-off")
    return out


def _task(sock: Any) -> str:
    return "idle" if sock.owner is None else f"{sock.owner.op}@cpu{sock.owner.cpu}"


def _where(w: tuple[str | int, ...]) -> str:
    kind = w[0]
    if kind == "defer_list":
        return f"slot(cpu{w[1]},node{w[2]})"
    if kind == "held":
        return f"{w[1]}({'sk' if w[1] == 'task' else 'cpu'}{w[2]})"
    if kind in ("rcv_queue", "err_queue"):
        return f"{kind}(sk{w[1]})"
    return str(kind)


def short(a: Action) -> str:
    """``PurgeStep sk0``, ``Migrate sk0 cpu1``, ``SetDeferMax 4``: an action in a table cell."""
    args = attrs.asdict(a)
    words = [f"{k}{v}" if k in ("sk", "cpu") else str(v) for k, v in args.items()]
    return " ".join([type(a).__name__, *words])


def rows(states: Sequence[State], actions: Sequence[Action]) -> list[Row]:
    return [
        Row(i, short(a), acting_cpu(states[i - 1], a), tuple(changes(states[i - 1], states[i])))
        for i, a in enumerate(actions, 1)
    ]
