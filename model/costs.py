"""The cost table of the contention and latency model: nanoseconds per primitive, per hardware profile.

Every figure carries its source and a confidence: H when the number was read in a primary source
(a paper, a benchmark's result files, a kernel commit), L when we derived it from parts because no
direct measurement exists. The figures and their sources are those collected in
shared/kernel/COSTS.md; this module is the one place the model reads them from, and every report
prints the profile it used.

How model/metrics.py composes them (so that no cost is counted twice):
- a cache-line transfer is charged once per transfer the line-ownership walk sees, by distance
  (same node, other node); a transfer between two CPUs of one node costs ``transfer_node``;
- a locked read-modify-write adds ``atomic_local`` on top of any transfer it needed;
- freeing an skb is ``skb_release`` (destructor bookkeeping and data release on warm lines) plus
  the return of the memory: ``slab_free_local``, or ``slab_free_remote_*`` when another CPU
  allocated it (that figure already contains the slab line's transfers, so the walk counts them
  but does not charge them again), or ``napi_put`` for the NAPI-cache paths (release included);
- ``skb_release + slab_free_local`` is the table's 60 ns "__kfree_skb of a warm, locally allocated
  skb"; ``skb_release + slab_free_remote_node`` is its ~3.3x "whole skb freed on the wrong CPU".
"""

from __future__ import annotations

from typing import Literal

import attrs

from spec.core import SpecError

Confidence = Literal["H", "L"]
Distance = Literal["cpu", "node", "xnode"]

DEFAULT_PROFILE = "intel-2s"


@attrs.frozen
class Figure:
    """One cost: nanoseconds, confidence (H read in a source, L derived by us), and the source."""

    ns: float
    confidence: Confidence
    source: str


# Sources, named once (COSTS.md cites them; the words here are ours).
PERFBOOK = "McKenney, perfbook cpu/overheads.tex"
NVIENNOT = "nviennot/core-to-core-latency result CSVs"
BROUER_SLAB = "Brouer, slab bulk API benchmarks (2015, re-run 2023)"
BROUER_BH = "Brouer, netdev 2017 micro-benchmarks"
SKYLOFT = "Skyloft artifact (Sapphire Rapids)"
XDP_PP = "xdp-project page_pool benchmarks (2025)"


@attrs.frozen
class Profile:
    """The figures of one hardware profile. Field names are the primitives model/metrics.py charges."""

    name: str
    description: str
    # A locked RMW (atomic_inc, cmpxchg, xchg) on a line this CPU already owns.
    atomic_local: Figure
    # Read-for-ownership of a line modified by another CPU of the same NUMA node.
    transfer_node: Figure
    # The same across NUMA nodes (sockets).
    transfer_xnode: Figure
    # local_bh_disable() + local_bh_enable() around kfree_skb_napi_cache().
    bh_toggle: Figure
    # Entering and leaving one NET_RX run (charged at SoftirqStart).
    softirq_entry: Figure
    # __kfree_skb() without the slab free: destructor bookkeeping and data release, warm lines.
    skb_release: Figure
    slab_free_local: Figure
    # Per object, when the NAPI cache hands a bulk of heads back (kmem_cache_free_bulk).
    slab_free_bulk: Figure
    slab_free_remote_node: Figure
    slab_free_remote_xnode: Figure
    # Release plus push into the NAPI skb cache (flush and "free now" paths).
    napi_put: Figure
    # IPI: CPU time on the sender, send-to-handler latency, CPU time on the target.
    ipi_send: Figure
    ipi_latency: Figure
    ipi_receive: Figure

    def transfer(self, distance: Distance) -> float:
        """Nanoseconds of one line transfer over ``distance`` (0 within one CPU)."""
        if distance == "cpu":
            return 0.0
        return self.transfer_node.ns if distance == "node" else self.transfer_xnode.ns

    def slab_free_remote(self, distance: Distance) -> float:
        return self.slab_free_remote_node.ns if distance == "node" else self.slab_free_remote_xnode.ns

    def figures(self) -> list[tuple[str, Figure]]:
        """Every figure with its field name, in table order (for reports)."""
        return [(f.name, getattr(self, f.name)) for f in attrs.fields(Profile) if f.type in (Figure, "Figure")]


def _intel() -> Profile:
    return Profile(
        name="intel-2s",
        description="2-socket x86 server, 2023-2025 Intel parts (Xeon Scalable); NUMA node = socket",
        atomic_local=Figure(5, "H", f"{PERFBOOK} (Xeon 8176 CAS 7.0 ns); {XDP_PP} (Broadwell 4.8 ns)"),
        transfer_node=Figure(50, "H", f"{PERFBOOK} (off-core blind CAS 47.5 ns); {NVIENNOT} (Intel 45-51 ns)"),
        transfer_xnode=Figure(130, "H", f"{NVIENNOT} (Intel 108-141 ns); {PERFBOOK} 149 ns; Intel MLC remote HITM"),
        bh_toggle=Figure(5, "H", BROUER_BH),
        softirq_entry=Figure(5, "L", f"taken equal to local_bh_disable+enable ({BROUER_BH}); no direct figure"),
        skb_release=Figure(
            50, "L", "COSTS.md: __kfree_skb of a warm local skb (60 ns, sum of parts) less the slab free"
        ),
        slab_free_local=Figure(10, "H", BROUER_SLAB),
        slab_free_bulk=Figure(5, "H", f"{BROUER_SLAB} (13-18 cycles per object)"),
        slab_free_remote_node=Figure(150, "L", "local slow path + 1-2 line transfers + cmpxchg on the slab line"),
        slab_free_remote_xnode=Figure(300, "L", "as the same-node remote free, with cross-node transfers"),
        napi_put=Figure(30, "L", "COSTS.md: release + push to the NAPI cache, without the slab free"),
        ipi_send=Figure(250, "H", f"{SKYLOFT}: 437 cycles at 2 GHz"),
        ipi_latency=Figure(1000, "H", f"{SKYLOFT}: 0.79 us; other reports 0.8-3.3 us"),
        ipi_receive=Figure(500, "L", "entry, handler raising NET_RX, exit; entry/exit with mitigations"),
    )


def _amd() -> Profile:
    base = _intel()
    return attrs.evolve(
        base,
        name="amd-chiplet",
        description=(
            "AMD EPYC chiplet server (Zen 3/4): two CPUs of one node are taken to sit on different CCDs "
            "(110 ns); the same-CCX figure (25 ns) applies only to CPUs pinned to one CCX"
        ),
        atomic_local=Figure(2, "H", f"{XDP_PP} (Zen 4 1.7 ns)"),
        transfer_node=Figure(110, "H", f"{NVIENNOT} (AMD other CCD 73-132 ns; same CCX 16-26 ns)"),
        transfer_xnode=Figure(200, "H", f"{NVIENNOT} (AMD 198-267 ns)"),
        slab_free_remote_node=Figure(250, "L", "local slow path + cross-CCD line transfers + cmpxchg"),
        slab_free_remote_xnode=Figure(400, "L", "as the same-node remote free, with cross-socket transfers"),
    )


def _vm() -> Profile:
    base = _intel()
    vm = "x10: measured here, 10.6 us round trip on a 2-vCPU KVM guest; other reports 4-10x"
    return attrs.evolve(
        base,
        name="intel-2s-vm",
        description="intel-2s inside a VM without IPI virtualisation (every IPI figure x10)",
        ipi_send=Figure(base.ipi_send.ns * 10, "H", vm),
        ipi_latency=Figure(base.ipi_latency.ns * 10, "H", vm),
        ipi_receive=Figure(base.ipi_receive.ns * 10, "L", f"derived target time x10 ({vm})"),
    )


PROFILES: dict[str, Profile] = {p.name: p for p in (_intel(), _amd(), _vm())}


def profile(name: str) -> Profile:
    """The named profile; SpecError naming the known ones otherwise."""
    if name not in PROFILES:
        raise SpecError(f"unknown cost profile {name!r} (known: {', '.join(PROFILES)})")
    return PROFILES[name]
