"""close-old and close-new agree: for the same input, the same decision, counters and final
accounting; only where and when the skb memory is freed differs (FACTS §5, last paragraph).

A property over two runs rather than one state: the same initial state is run to quiescence
under each close path by the fair scheduler, and the socket-visible outcome is compared.
"""

from __future__ import annotations

import attrs

from model.scheduler import run
from spec import State

# What a socket shows after close(): its state, what was sent, the MIB counters, its accounting.
SOCKET_OUTCOME = (
    "sk_state", "copied_seq", "rst_sent", "fin_sent", "TCPABORTONCLOSE", "TCPABORTONDATA",
    "sk_rmem_alloc", "sk_forward_alloc",
)  # fmt: skip


def outcome(s: State) -> tuple[object, ...]:
    """The socket-visible outcome of a run, and the pages the protocol holds in all."""
    socks = tuple(tuple(getattr(k, f) for f in SOCKET_OUTCOME) for k in s.sockets)
    return (socks, s.memory_allocated + sum(c.per_cpu_fw_alloc for c in s.cpus))


def close_paths_agree(state: State) -> str | None:
    """None if both close paths give the same outcome from ``state``, else what differs."""
    finals = {
        path: run(attrs.evolve(state, config=attrs.evolve(state.config, close_path=path))).final
        for path in ("close-old", "close-new")
    }
    old, new = outcome(finals["close-old"]), outcome(finals["close-new"])
    if old == new:
        return None
    for sk, (a, b) in enumerate(zip(old[0], new[0], strict=True)):  # type: ignore[call-overload]
        diff = {f: (x, y) for f, x, y in zip(SOCKET_OUTCOME, a, b, strict=True) if x != y}
        if diff:
            return f"socket {sk} differs (close-old, close-new): {diff}"
    return f"protocol pages held differ: close-old {old[1]}, close-new {new[1]}"
