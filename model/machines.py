"""The machines and kernels the spec runs on: named kernel variants and machine shapes.

A kernel is a spec Config plus its default ``skb_defer_max``; a machine is a CPU-to-node map.
Every bound below says why it is as large as it is and no larger.
"""

from __future__ import annotations

import attrs

from spec import Config

# Each named kernel is a release as tagged (v6.18 is v6.18.0) or a stable series as read
# (v6.18.y: 6.18.35, FACTS §14); the preemption model is a build option, left at Config's default
# ("full") and chosen per run.
_V619 = Config(
    close_path="close-new", unread_test="end_seq", defer="defer-v6", napi_cache_size=128, napi_consume_defers=True
)
KERNELS: dict[str, tuple[Config, int]] = {
    # close-old, the summed unread test, spinlock lists, NAPI cache 64/32, defer max 64; no
    # zero-copy test (0943404b1f3b never reached defer-v2 kernels).
    "v6.17": (Config(close_path="close-old", unread_test="len_sum", defer="defer-v2"), 64),
    # b13592d20b21, 5f9238530970, the lock-free per-node lists; NAPI cache still 64/32. Without
    # 0943404b1f3b (not in v6.18.0); the page-pool kick is not established for v6.18.0 (FACTS
    # §14 read it in 6.18.35), so it is off.
    "v6.18": (Config(close_path="close-new", unread_test="end_seq", defer="defer-v6"), 64),
    # The 6.18.y stable series as read in 6.18.35: the zero-copy test (0943404b1f3b) and
    # page_pool_release_retry() kicking the defer lists.
    "v6.18.y": (
        Config(close_path="close-new", unread_test="end_seq", defer="defer-v6", zcopy_check=True, page_pool_kick=True),
        64,
    ),
    # b61785852ed0 raised skb_defer_max to 128; the NAPI cache grew to 128 (bulk free 32);
    # e20dfbad8aab: napi_consume_skb() defers TX skbs built on another CPU (a second producer, in
    # softirq on any CPU). Without 0943404b1f3b (not in v6.19.0).
    "v6.19": (_V619, 128),
    # The 6.19.y stable series: the zero-copy test (0943404b1f3b is in 6.19.y, FACTS §14); the
    # page-pool kick assumed as in 6.18.y (stable series carry the same backports; unconfirmed).
    "v6.19.y": (attrs.evolve(_V619, zcopy_check=True, page_pool_kick=True), 128),
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
