"""Limits on every number a user can hand the tool, each with its reason.

The spec itself is unbounded; these bounds keep a command from growing memory or time without
saying anything (``explore --cpus 10**26``, ``scenario --skbs 1000000``, a trace file of
gigabytes). The CLI validates each numeric option against its ``Limit`` here and the trace
reader applies the trace limits, so the numbers and their reasons live in one place and an
error names both.
"""

from __future__ import annotations

import attrs

from model.machines import BOUNDS


@attrs.frozen
class Limit:
    """An inclusive range ``lo..hi`` and why nothing outside it is accepted."""

    lo: int | float
    hi: int | float
    reason: str
    lo_open: bool = False  # lo itself is refused (a timeout of 0 seconds)

    def admits(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        return above and value <= self.hi

    def describe(self) -> str:
        if self.lo_open:
            return f"above {self.lo:,} and at most {self.hi:,}"
        return f"from {self.lo:,} to {self.hi:,}"


# Integers with more digits than this are refused before Python parses them (Python itself stops
# at 4300 digits with a ValueError): no limit below is anywhere near 20 digits.
MAX_DIGITS = 20
# A 64-bit kernel field holds nothing larger; a trace number beyond it cannot be a kernel value.
INT64 = 2**63 - 1
SYSCTL_INT = 2**31 - 1  # net.core.skb_defer_max is an int sysctl (proc_dointvec_minmax, minimum 0)

# One scenario run keeps every state: 2048 skbs in all take about 4 s and 350 MiB on a 2-core
# KVM guest (512: 1 s, 60 MiB; 1024: 2 s, 120 MiB), and the memory grows faster than the skbs.
MAX_SKBS_TOTAL = 2048

EXPLORE_CPUS = Limit(
    1, 6, f"each CPU multiplies the interleavings; {BOUNDS.max_cpus} CPUs already show every race (model/machines.py)"
)
EXPLORE_NODES = Limit(1, 6, "a node needs a CPU, and more than the CPUs allow cannot be populated")
EXPLORE_SOCKETS = Limit(
    1, 4, f"{BOUNDS.max_sockets} sockets let two closes race on one slot; each more multiplies the states"
)
EXPLORE_SKBS = Limit(
    0, 16, f"{BOUNDS.max_skbs_per_socket} skbs fill a slot and cross the kick at small maxima; each more adds levels"
)
DEFER_MAX = Limit(0, SYSCTL_INT, "net.core.skb_defer_max is a non-negative int sysctl")
MAX_STATES = Limit(
    1, 50_000_000, "about 1.2 KiB per stored state on the small configurations: 50 million is about 60 GiB"
)
MAX_MEMORY_MIB = Limit(64, 1_048_576, "below 64 MiB the interpreter alone does not fit; 1 TiB is beyond any machine")
MAX_DEPTH = Limit(1, 100_000, "no small configuration goes deeper than about 100 steps; a bound past that is no bound")
MAX_SECONDS = Limit(0, 7 * 86_400, "a search longer than a week belongs to a batch job", lo_open=True)
# explore --engine spin (properties/spin/)
SPIN_WORKERS = Limit(1, 64, "pan's multi-core search shares one memory segment; past 64 cores swarm runs scale better")
SPIN_VIOLATIONS = Limit(1, 1000, "each reported violation is a trail replayed through the spec (a second or so each)")
MAX_EXAMPLES = Limit(1, 10_000_000, "the thorough profile runs 3000 examples per machine; ten million is days")
SEED = Limit(0, 2**64 - 1, "a 64-bit seed already names more runs than anyone will try")
CPU_ID = Limit(0, 63, "a CPU of the layout; the layouts of model/machines.py have at most 4")
SCENARIO_SOCKETS = Limit(1, 256, f"every socket's skbs count towards the {MAX_SKBS_TOTAL} skbs one run keeps")
SCENARIO_SKBS = Limit(
    0, MAX_SKBS_TOTAL, f"one run keeps every state: {MAX_SKBS_TOTAL} skbs in all already take about 350 MiB"
)
SPECDIFF_TIMEOUT = Limit(
    0, 3600, "crosshair needs some time per condition to say anything; an hour per function is plenty", lo_open=True
)
PROBE_SOCKETS = Limit(1, 64, "each socket is a live TCP connection on loopback, opened and closed per trial")
PROBE_SENDS = Limit(1, 10, "with ACKs held back, more than 10 writes no longer stay one skb each")
PROBE_REPS = Limit(3, 100, "three repetitions at least to measure the noise; each is two live trials, 100 take minutes")
LIVE_EXAMPLES = Limit(1, 10_000, "each example is several live runs over loopback with sysctl writes: hours at 10,000")
LIVE_SHRINK_SECONDS = Limit(0, 3600, "shrinking reruns the workload on the live kernel; an hour per property is plenty")

# Trace files (properties/traces.py).
TRACE_BYTES = Limit(
    0, 8 * 2**20, "the longest trace a machine or the explorer writes is a few hundred KiB; 8 MiB is read at most"
)
TRACE_CPUS = Limit(1, 64, "the machines and scenarios use at most 4 CPUs; 64 leaves room for any hand-written trace")
TRACE_SOCKETS = Limit(0, 256, "as scenario --sockets")
TRACE_PACKETS = Limit(0, MAX_SKBS_TOTAL, "as scenario --skbs: packets per socket in one run")
TRACE_ACTIONS = Limit(
    0, 100_000, "the longest run the tools write is about 40,000 steps (2048 skbs); replay keeps every state"
)


def check_int(name: str, value: int, limit: Limit) -> str | None:
    """None when ``value`` is within ``limit``; else one line naming ``name``, the range and the reason."""
    if limit.admits(value):
        return None
    shown = str(value) if len(str(value)) <= MAX_DIGITS else f"a {len(str(value))}-digit number"
    return f"{name} is {shown}, must be {limit.describe()}: {limit.reason}"
