"""A second claimant of the defer IPI guard: page_pool_release_retry().

Mirrors net/core/page_pool.c: page_pool_release_retry() (read in 6.18.35; FACTS §14). When a
page pool is destroyed while some of its pages are still held by skbs, a delayed work item
retries the release; before retrying it walks the online CPUs and kicks each one's defer lists
through kick_defer_list_purge() (net/core/dev.c), the same ``defer_ipi_scheduled`` guard the
producers of spec/defer.py claim, so that skbs parked there give their pages back.

Theory of operation. The work runs in process context on a workqueue, preemptible. Its walk
reads a CPU's online bit (for_each_online_cpu()), then kicks that CPU; between the two, under a
fully preemptible kernel (``Config.preempt`` "full"), the CPU can go offline, and the kick then
sets the guard with no IPI to clear it (FACTS §14, "a kick to an offline CPU"). Under NONE and
VOLUNTARY the CPU cannot go down inside that window (spec/hotplug.py).

Simplifications: the pages themselves are not modelled (only the walk's kicks matter to the
defer lists); ``Env.page_pool_releases`` bounds how many walks the workload starts; the CPU the
work runs on is not named (it never touches its own CPU's data), and the work item's start and
its first online test are one step, and so are each kick and the next online test (the start
and the kick's program counter change nothing another CPU reads; a CPU going offline just
before or just after such a test is an interleaving the spec has anyway).
"""

from __future__ import annotations

from spec import core, defer
from spec.actions import PagePoolRetry
from spec.core import Draft
from spec.state import PagePoolWork, State


def guard_page_pool_retry(state: State, a: PagePoolRetry) -> str | None:
    if not state.config.page_pool_kick:
        return "this kernel's page pool does not kick the defer lists"
    if state.page_pool is None and state.env.page_pool_releases <= 0:
        return "the workload destroys no more page pools"
    return None


def apply_page_pool_retry(state: Draft, a: PagePoolRetry) -> Draft:
    work = state.page_pool
    if work is None:  # a release is retried: its walk starts at the first CPU
        core.set_env(state, page_pool_releases=state.env.page_pool_releases - 1)
        return _check(state, 0)
    state = defer.kick_defer_list_purge(state, work.cpu)
    return _check(state, work.cpu + 1)


def _check(state: Draft, cpu: int) -> Draft:
    """for_each_online_cpu(): the next online CPU from ``cpu`` on, to be kicked; none: the walk ends."""
    while cpu < len(state.cpus) and not state.cpus[cpu].online:
        cpu += 1
    state.page_pool = PagePoolWork(cpu=cpu) if cpu < len(state.cpus) else None
    return state
