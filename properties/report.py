"""Readable renderings of states and violations, for failure messages and the CLI.

One way to name each place, in the kernel's words, everywhere a place is printed: a defer slot
is ``slot(cpu1,node0)`` (the ``skb_defer_node`` of node 0 in CPU 1's per-CPU data), a socket's
queues ``sk_receive_queue(sk0)`` and ``sk_error_queue(sk0)``, an unlinked skb ``task(sk0)`` (in
the closing task's hands) or ``softirq(cpu1)`` (detached by a flush), a freed one ``freed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from spec import Action, State

QUEUES = {"rcv_queue": "sk_receive_queue", "err_queue": "sk_error_queue"}


def slot(cpu: int, node: int) -> str:
    return f"slot(cpu{cpu},node{node})"


def place(w: tuple[str | int, ...]) -> str:
    """Where an skb is (``spec.state.Where``), in the words above."""
    kind = w[0]
    if kind == "defer_list":
        return slot(int(w[1]), int(w[2]))
    if kind == "held":
        return f"{w[1]}({'sk' if w[1] == 'task' else 'cpu'}{w[2]})"
    if kind in QUEUES:
        return f"{QUEUES[str(kind)]}(sk{w[1]})"
    return str(kind)


def context(ctx: tuple[str, int]) -> str:
    """Who acts (``spec.state.Context``): ``task(sk0)``, ``softirq(cpu1)``, ``hotplug(cpu0)``, ``rx(cpu0)``."""
    kind, n = ctx
    return f"{kind}({'sk' if kind == 'task' else 'cpu'}{n})"


def skbs(ids: Iterable[int]) -> str:
    """A list of skbs, head first: ``skb0,skb1``, or ``empty``."""
    return ",".join(f"skb{i}" for i in ids) or "empty"


_PLACE_REPR = re.compile(r"\('(defer_list|held|rcv_queue|err_queue|freed)'((?:, (?:'\w+'|\d+))*),?\)")

_CONTEXT_REPR = re.compile(r"\('(task|softirq|hotplug|rx)', (\d+)\)")
_NAMES_LIST = re.compile(r"\[(\w+\(\w+\)(?:, \w+\(\w+\))*)\]")
_FLAG_REPR = re.compile(r"=(True|False)\b")
_SKB_LIST_REPR = re.compile(r"\bskbs \[(\d+(?:, \d+)*)?\]")


def kernel_words(message: str) -> str:
    """A message from an invariant or a rule with each place tuple (``('defer_list', 0, 0)``)
    rewritten as ``place()`` names it, a list of skbs (``skbs [1, 2]``) as ``skbs skb1,skb2``,
    and a flag's ``=True`` as the kernel's ``=1``: the
    invariants' own wording is kept, only the Python reprs go."""

    def one(m: re.Match[str]) -> str:
        parts: list[str | int] = [m.group(1)]
        for item in filter(None, m.group(2).split(", ")):
            parts.append(int(item) if item.isdigit() else item.strip("'"))
        return place(tuple(parts))

    message = _PLACE_REPR.sub(one, message)
    message = _CONTEXT_REPR.sub(lambda m: context((m.group(1), int(m.group(2)))), message)
    message = _NAMES_LIST.sub(lambda m: m.group(1).replace(", ", ","), message)
    message = _SKB_LIST_REPR.sub(lambda m: f"skbs {skbs(int(i) for i in (m.group(1) or '').split(', ') if i)}", message)
    return _FLAG_REPR.sub(lambda m: f"={int(m.group(1) == 'True')}", message)


def render_state(s: State) -> str:
    """A compact, line-per-object picture of a state: every CPU, every socket, every live skb."""
    lines = [f"skb_defer_max={s.skb_defer_max} memory_allocated={s.memory_allocated} env={s.env!r}"]
    for c in s.cpus:
        slots = " ".join(
            f"{slot(c.id, n)}={{defer_list={skbs(sl.defer_list)} defer_count={sl.defer_count} epoch={sl.epoch}}}"
            for n, sl in enumerate(c.defer_slots)
        )
        flags = [
            "online" if c.online else ("offline, dev_cpu_dead pending" if c.dead_pending else "offline"),
            f"defer_ipi_scheduled={int(c.defer_ipi_scheduled)}",
            f"ipi_queued={c.ipi_queued}",
            f"net_rx_pending={int(c.net_rx_pending)}",
        ]
        if c.softirq is not None:
            flags.append(f"flush(node={c.softirq.node}, pc={c.softirq.pc}, batch={skbs(c.softirq.batch)})")
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
            f"sk_receive_queue={skbs(k.sk_receive_queue)} sk_error_queue={skbs(k.sk_error_queue)} "
            f"sk_rmem_alloc={k.sk_rmem_alloc} sk_forward_alloc={k.sk_forward_alloc} "
            f"RST={k.rst_sent} FIN={k.fin_sent} TCPABORTONCLOSE={k.TCPABORTONCLOSE}; task: {task}"
        )
    for skb in s.skbs:
        if skb.where != ("freed",) or len(skb.frees) > 1 or skb.stray_touches:
            lines.append(
                f"skb {skb.id}: built on CPU {skb.alloc_cpu}, truesize {skb.truesize}, at {place(skb.where)}, "
                f"frees={','.join(f'cpu{f.cpu}:{f.how}' for f in skb.frees) or 'none'}"
                + (f", stray writes by {','.join(context(t) for t in skb.stray_touches)}" if skb.stray_touches else "")
            )
    return "\n".join(lines)


def render_actions(actions: Sequence[Action]) -> str:
    return "\n".join(f"  {i:3d}. {a!r}" for i, a in enumerate(actions, 1))
