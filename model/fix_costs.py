"""What each candidate fix of the findings costs, from the metrics model (model/metrics.py).

The attack scenario (model/scenarios.py: K sockets x N unread skbs built on CPU 0, closed on
CPU 1) runs to quiescence under the fair scheduler on v7.3 and on each fixed kernel of
model/kernels.py (``v7.3+<fix>``, ``v7.3+fixes``), and the same trace is priced: atomic
read-modify-writes and IPIs sent per unread skb, and close() time per unread skb (modelled ns of
the cost profile). What the metrics model prices for the fixes: fix-F5's count read before the
increment (a read of the slot's line), fix-F7's preemption toggle around each attempt, fix-F1's
error-queue purge (its lock), fix-F11's subtraction in the flush (an atomic read-modify-write
where the reset was a plain store, once per flushed slot); fix-F6's reordered flush and fix-F2's
cpus_read_lock() (taken by the page-pool walk, not on the close path) change nothing the model
prices, nor does fix-F8's cmpxchg loop (one atomic either way; retries not modelled).
"""

from __future__ import annotations

import attrs

from model.costs import DEFAULT_PROFILE
from model.kernels import KERNELS
from model.metrics import Metrics, measure
from model.scenarios import attack
from model.scheduler import run


@attrs.frozen
class FixCost:
    """One kernel's figures on the attack scenario, per unread skb (None: nothing unread)."""

    kernel: str
    atomics_per_skb: float | None
    ipis_per_skb: float | None
    close_ns_per_skb: float | None
    fallbacks: int


def cost(kernel: str, *, sockets: int = 4, skbs: int = 40, profile: str = DEFAULT_PROFILE) -> FixCost:
    """The attack scenario on ``kernel`` (its own skb_defer_max), measured."""
    sc = attack(kernel_name=kernel, sockets=sockets, skbs=skbs)
    m: Metrics = measure(run(sc.state, triggers=sc.triggers, hold=sc.hold), profile)
    return FixCost(
        kernel,
        m.per_skb(m.total("atomics")),
        m.per_skb(m.total("ipis_sent")),
        m.per_skb(sum(m.close_ns)),
        sum(n for _, n in m.fallbacks),
    )


def fixed_kernels() -> list[str]:
    """v7.3, then every kernel with candidate fixes, in the table's order."""
    return ["v7.3", *(k for k in KERNELS if k.startswith("v7.3+"))]


def costs(*, sockets: int = 4, skbs: int = 40, profile: str = DEFAULT_PROFILE) -> list[FixCost]:
    return [cost(k, sockets=sockets, skbs=skbs, profile=profile) for k in fixed_kernels()]
