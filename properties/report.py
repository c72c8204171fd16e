"""Readable renderings of states and violations, for failure messages and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

from spec import Action, State


def render_state(s: State) -> str:
    """A compact, line-per-object picture of a state: every CPU, every socket, every live skb."""
    lines = [f"skb_defer_max={s.skb_defer_max} memory_allocated={s.memory_allocated} env={s.env!r}"]
    for c in s.cpus:
        slots = " ".join(
            f"slot[{n}]={{list={list(sl.defer_list)} count={sl.defer_count} epoch={sl.epoch}}}"
            for n, sl in enumerate(c.defer_slots)
        )
        flags = [
            "online" if c.online else ("offline, dev_cpu_dead pending" if c.dead_pending else "offline"),
            f"defer_ipi_scheduled={int(c.defer_ipi_scheduled)}",
            f"ipi_queued={c.ipi_queued}",
            f"net_rx_pending={int(c.net_rx_pending)}",
        ]
        if c.softirq is not None:
            flags.append(f"flush(node={c.softirq.node}, pc={c.softirq.pc}, batch={list(c.softirq.batch)})")
        if c.kick_unserved:
            flags.append("kicked, not yet flushed")
        lines.append(
            f"CPU {c.id} node {c.node}: {', '.join(flags)}; {slots}; "
            f"napi_skb_cache={c.napi_skb_cache} per_cpu_fw_alloc={c.per_cpu_fw_alloc}"
        )
    for k in s.sockets:
        task = "idle"
        if k.owner is not None:
            t = k.owner
            task = f"{t.op} on CPU {t.cpu} ({t.phase}, unread={t.data_was_unread}"
            task += f", defer={t.defer!r})" if t.defer is not None else ")"
        lines.append(
            f"socket {k.id} {k.sk_state}: rcv_nxt={k.rcv_nxt} copied_seq={k.copied_seq} "
            f"queue={list(k.sk_receive_queue)} errq={list(k.sk_error_queue)} "
            f"sk_rmem_alloc={k.sk_rmem_alloc} sk_forward_alloc={k.sk_forward_alloc} "
            f"RST={k.rst_sent} FIN={k.fin_sent} TCPABORTONCLOSE={k.TCPABORTONCLOSE}; task: {task}"
        )
    for skb in s.skbs:
        if skb.where != ("freed",) or len(skb.frees) > 1 or skb.stray_touches:
            lines.append(
                f"skb {skb.id}: built on CPU {skb.alloc_cpu}, truesize {skb.truesize}, at {skb.where}, "
                f"frees={[(f.cpu, f.how) for f in skb.frees]}"
                + (f", stray writes by {list(skb.stray_touches)}" if skb.stray_touches else "")
            )
    return "\n".join(lines)


def render_actions(actions: Sequence[Action]) -> str:
    return "\n".join(f"  {i:3d}. {a!r}" for i, a in enumerate(actions, 1))
