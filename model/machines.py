"""The machines the spec runs on (CPU-to-node maps) and the bounds of exploration.

Kernels are in model/kernels.py; ``KERNELS`` here is its releases as (Config, skb_defer_max).
Every bound below says why it is as large as it is and no larger.
"""

from __future__ import annotations

import attrs

from model.kernels import KERNELS as _KERNELS
from spec import Config

# The kernels as (Config, default skb_defer_max), for callers that want the releases only; the
# table itself, switch by switch, is model/kernels.py.
RELEASES = ("v6.17", "v6.18", "v6.18.y", "v6.19", "v6.19.y")
KERNELS: dict[str, tuple[Config, int]] = {
    name: (_KERNELS[name].config(), _KERNELS[name].defer_max) for name in RELEASES
}


@attrs.frozen
class Machine:
    """CPUs and their NUMA nodes (``cpu_nodes[i]`` is CPU i's node)."""

    name: str
    cpu_nodes: tuple[int, ...]


MACHINES: dict[str, Machine] = {
    # The smallest machine with a cross-CPU free: one producer CPU, one owner.
    "2cpu-1node": Machine("2cpu-1node", (0, 0)),
    # The smallest with a cross-node free (5628f3fe3b16's per-node slots).
    "2cpu-2node": Machine("2cpu-2node", (0, 1)),
    # Two producers on different nodes racing for one owner's two slots, plus the owner.
    "3cpu-2node": Machine("3cpu-2node", (0, 0, 1)),
    # Two CPUs per node: same-node and cross-node producers at once (cost comparisons).
    "4cpu-2node": Machine("4cpu-2node", (0, 0, 1, 1)),
}


@attrs.frozen
class Bounds:
    """Bounds for random and exhaustive exploration, each with its reason."""

    # Three CPUs show every race of FACTS §7-§10: an owner, two producers (one could be on
    # another node), one of which may go offline; more add symmetric copies only.
    max_cpus: int = 3
    # Two sockets let two closes race on one slot; one more adds no new interleaving shape.
    max_sockets: int = 2
    # Up to max + 2 skbs per socket fill a slot, fall back, and cross the kick point at the
    # small maxima below (the kick is at max/2 + 1).
    max_skbs_per_socket: int = 6
    # 0-4 cover "deferral off" (0, 1), "defers one, never kicks" (2), the smallest kicking
    # maximum (3) and an even one (4); 64 and 128 behave like 4 scaled up.
    defer_max_values: tuple[int, ...] = (0, 1, 2, 3, 4)
    # Hotplug, migration and sysctl events per run: one or two of each reach every race.
    max_env_events: int = 2


BOUNDS = Bounds()
