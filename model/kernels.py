"""Kernels as named sets of switches: one switch per commit of this mechanism's history.

A ``Switch`` names its commit (the page-pool kick, with no id in FACTS, goes by its function),
says in the words of FACTS what it changes, and maps onto the spec's ``Config``: the fields it sets
when the kernel has it (``on``) and when it lacks it (``off``). A switch whose ``off`` is None is
one the spec does not take away (68822bdf76f1, the defer lists themselves; 39564c3fdc66, the
sysctl and its half-capacity kick), so no named kernel may lack it. The fixes of 2022 and the 2025
revert are switches whose ``off`` is the bug they fixed (``HISTORY``). Two switches may set the same field (the
lock-free lists and the per-node slots are both ``defer="defer-v6"``): a kernel with one and
without the other is refused, since the spec models them only together.

A ``Kernel`` is a release as tagged (v6.18 is v6.18.0) or a stable series as read (v6.18.y:
6.18.35, FACTS §14), or a kernel right before one fix (``before-<id>``), as the set of switches it
has; its ``Config`` is what its switches say, over the spec's defaults. The preemption model is a
build option, left at Config's default ("full") and chosen per run. ``skb_defer_max`` and the NAPI
cache size are constants of a release, not switches.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from spec import Config, SpecError


@attrs.frozen
class Switch:
    """One commit: ``id`` (a commit id, or a message id), ``title`` (its subject, in short),
    ``what`` (what it changes, in FACTS words, with the section), the Config fields it sets when a
    kernel has it (``on``) and lacks it (``off``; None: not expressible), and the known findings
    (properties/findings.py ids) that it removes."""

    id: str
    title: str
    what: str
    on: Mapping[str, object] = attrs.field(factory=dict)
    off: Mapping[str, object] | None = None
    fixes: tuple[str, ...] = ()
    # Candidate fixes only (ids "fix-..."): the findings it was modelled against but does not
    # remove (the evidence: EVIDENCE), and the other candidate fixes its per-fix kernel carries.
    tried: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()

    @property
    def candidate(self) -> bool:
        """A candidate fix of a finding (issue 12, part 3), not a commit of the kernel's history."""
        return self.id.startswith("fix-")


SWITCHES: dict[str, Switch] = {
    s.id: s
    for s in (
        Switch(
            "68822bdf76f1", "per-CPU defer lists (v5.19)",
            "an skb freed on another CPU than the one that built it (alloc_cpu) is queued on that CPU's defer "
            "list, and waits there until that CPU runs NET_RX; a dead CPU's list waits until it returns (§7, §10). "
            "Not switchable: without it there is no defer path at all",
        ),
        Switch(
            "39564c3fdc66", "kick at half capacity (v5.19)",
            "the producer kicks the owning CPU when the count reaches skb_defer_max >> 1 (defer-v2; defer-v6 kicks "
            "when c - 1 == max >> 1) (§7). Not switchable: before it the kick point was a fixed 128 with no "
            "sysctl, which only the size of the spec's small configurations tells apart",
        ),
        Switch(
            "97e719a82b43", "the IPI guard (May 2022, v5.19)",
            "kick_defer_list_purge() queues the async IPI only if it can change defer_ipi_scheduled from 0 to 1; "
            "the handler raises NET_RX, then clears it. Before it the producer called "
            "smp_call_function_single_async() itself, whose test of the descriptor's lock flag and setting of it "
            "are separate steps: after a flush between a kick and its delivery, a second producer's kick can pass "
            "the same test and queue the descriptor twice (§8)",
            on={"ipi_guard": True}, off={"ipi_guard": False},
        ),
        Switch(
            "c09b0cd2cc6c", "skb_defer_max == 1 (Kicinski, message id 20220518185522.2038683-1-kuba@kernel.org, v5.19)",
            "defer-v2 decides the kick on the count before this skb's increment, so skb_defer_max 1 defers one "
            "skb and kicks at once; before it the count after the increment was compared, and with max 1 the one "
            "skb was never kicked (§7)",
            on={"v2_kick_count": "before"}, off={"v2_kick_count": "after"},
        ),
        Switch(
            "909876500251", "flush before each poll (May 2022, v5.19)",
            "net_rx_action() calls skb_defer_free_flush() at the top of every loop iteration, so every NAPI poll on "
            "a CPU first flushes that CPU's slots; before it the flush came once, after the polls (§9, §14)",
            on={"flush_before_poll": True}, off={"flush_before_poll": False},
        ),
        Switch(
            "f3412b3879b4", "net_rx_action always flushes (Apr 2022, v5.19)",
            "every NET_RX softirq flushes at least once, even one that finds no NAPI to poll (a run raised by the "
            "defer IPI); before it such a run returned before the flush at its end. Its absence shows only "
            "without 909876500251, which came later and flushes before the first poll anyway (§9)",
            on={"idle_run_flushes": True}, off={"idle_run_flushes": False},
        ),
        Switch(
            "f278b6d5bb46", "sk_rmem_alloc atomic again (Mar 2025, revert of 0de2a5c4b824)",
            "0de2a5c4b824 made TCP's charge and uncharge of sk_rmem_alloc plain reads and writes under the socket "
            "lock (tcp_skb_set_owner_r(), tcp_sock_rfree()); error-queue skbs are charged without the socket "
            "lock (sock_queue_err_skb), so one charged between a read and its write was lost; f278b6d5bb46 "
            "reverted it (§3). The spec splits the uncharge of tcp_eat_recv_skb() only",
            on={"rmem_atomic": True}, off={"rmem_atomic": False},
        ),
        Switch(
            "5f9238530970", "the end_seq unread test (v6.18, stable)",
            "__tcp_close() tests each skb's end_seq (minus a FIN) after copied_seq instead of summing "
            "end_seq - seq - fin over the queue, which counted a retransmission of read data with a FIN as unread "
            "and sent a spurious RST (§5)",
            on={"unread_test": "end_seq"}, off={"unread_test": "len_sum"}, fixes=("F4",),
        ),
        Switch(
            "b13592d20b21", "close-new: tcp_eat_recv_skb() in __tcp_close() (v6.18)",
            "the purge uncharges each skb on the closing CPU and hands it to skb_attempt_defer_free() instead of "
            "__kfree_skb() freeing it there (a remote slab free for an skb built elsewhere) (§5, §6)",
            on={"close_path": "close-new"}, off={"close_path": "close-old"},
        ),
        Switch(
            "844c9db7f7f5", "lock-free defer lists (v6.18)",
            "the producer counts with an atomic increment (fallbacks count too, and the count is not decremented) "
            "and pushes onto a lock-free list; before it, a spinlock list whose count was tested before the lock "
            "and raised only for a queued skb (defer-v2) (§7)",
            on={"defer": "defer-v6"}, off={"defer": "defer-v2"},
        ),
        Switch(
            "5628f3fe3b16", "per-node defer slots (v6.18)",
            "the slot is (alloc_cpu, the NUMA node of the freeing CPU), one list per node on each CPU, flushed "
            "node by node (§7, §9)",
            on={"defer": "defer-v6"}, off={"defer": "defer-v2"},
        ),
        Switch(
            "e20dfbad8aab", "napi_consume_skb() defers (v6.19)",
            "a TX skb completed in NAPI poll on another CPU than the one that built it is handed to "
            "skb_attempt_defer_free() from softirq: a second producer (§14)",
            on={"napi_consume_defers": True}, off={"napi_consume_defers": False},
        ),
        Switch(
            # No commit id in FACTS: the behaviour was read in the 6.18.35 stable tree.
            "page_pool_release_retry", "the page pool kicks the defer lists (read in 6.18.35; no commit id)",
            "page_pool_release_retry(), from a preemptible workqueue, walks the online CPUs and kicks each one's "
            "defer lists through the same IPI guard: another claimant of defer_ipi_scheduled (§14)",
            on={"page_pool_kick": True}, off={"page_pool_kick": False},
        ),
        Switch(
            "0943404b1f3b", "the zero-copy test (Feb 2026, 6.18.y and 6.19.y stable)",
            "skb_attempt_defer_free() frees a zero-copy skb at once, so no deferred skb holds a zero-copy "
            "buffer (§7, §14)",
            on={"zcopy_check": True}, off={"zcopy_check": False}, fixes=("F9",),
        ),
        Switch(
            "06e3f54e8b22", "flush skb_defer_nodes in dev_cpu_dead() (Sep 2026; stable 39d48136f029, c68f41574634)",
            "dev_cpu_dead() empties the dead CPU's slots on a surviving CPU (mechanics assumed: detach every slot, "
            "reset the counts, free the skbs there) instead of leaving them until the CPU returns (§10, §14)",
            on={"hotplug_flush": True}, off={"hotplug_flush": False},
        ),
    )
}  # fmt: skip

# -- candidate fixes of the findings (issue 12, part 3) -------------------------------------------
# Each is the smallest plausible kernel patch we could write for a finding, as a switch that no
# released kernel has: ``what`` says which function changes and how (our words). Their evidence is
# EVIDENCE below; their cost, model/fix_costs.py.
FIX_SWITCHES: tuple[Switch, ...] = (
    Switch(
        "fix-F5-test-before-increment", "skb_attempt_defer_free(): test the count before the increment",
        "net/core/skbuff.c: skb_attempt_defer_free() reads the chosen slot's defer_count and goes to nodefer "
        "when it is at or above skb_defer_max, before atomic_inc_return(); the increment and its c >= max test "
        "stay (producers passing the pre-test together). A lone fallback then adds nothing to the count, as "
        "under defer-v2; but producers passing the pre-test together still each add one (not enough for F5)",
        on={"defer_test_first": True}, off={"defer_test_first": False}, tried=("F5",),
    ),
    Switch(
        "fix-F5-increment-below-max", "skb_attempt_defer_free(): increment only below the maximum (cmpxchg)",
        "net/core/skbuff.c: skb_attempt_defer_free() replaces atomic_inc_return() and its c >= max test with an "
        "atomic_try_cmpxchg() loop that adds one only while the count is below skb_defer_max and goes to "
        "nodefer otherwise: no fallback ever counts, concurrent ones included (the plain pre-test of "
        "fix-F5-test-before-increment lets producers that pass it together each add one)",
        on={"defer_count_below_max": True}, off={"defer_count_below_max": False}, fixes=("F5",),
    ),
    Switch(
        "fix-F7-defer-preempt-off", "skb_attempt_defer_free(): no preemption between the online test and the kick",
        "net/core/skbuff.c: skb_attempt_defer_free() runs from its cpu_online() test to its kick with "
        "preemption disabled (local_bh_disable() or preempt_disable() around it, as the softirq producer "
        "already is), so stop_machine() cannot take the target down, nor the scheduler migrate the task, "
        "between the test and the push and kick: the push then never lands on an offline CPU (F7), nor after "
        "dev_cpu_dead()'s flush (F3), and a producer's kick never meets an offline CPU (F2 from producers)",
        on={"defer_preempt_off": True}, off={"defer_preempt_off": False}, fixes=("F7", "F3"),
    ),
    Switch(
        "fix-F2-page-pool-cpus-read-lock", "page_pool_release_retry(): walk the CPUs under cpus_read_lock()",
        "net/core/page_pool.c: page_pool_release_retry() takes cpus_read_lock() around its walk of the online "
        "CPUs and their kicks, so no CPU goes offline between a CPU's online test and its kick: the page pool "
        "never claims the IPI guard of an offline CPU. F2 has two kickers, so its per-fix kernel also has "
        "fix-F7-defer-preempt-off (the producers')",
        on={"page_pool_cpus_lock": True}, off={"page_pool_cpus_lock": False}, fixes=("F2",),
        needs=("fix-F7-defer-preempt-off",),
    ),
    Switch(
        "fix-F1-purge-errqueue", "__tcp_close(): purge the error queue too",
        "net/ipv4/tcp.c: __tcp_close() calls skb_queue_purge(&sk->sk_error_queue) after its receive-queue loop "
        "(and in the listener's branch) and before the RST/FIN decision, so error-queue skbs queued before then "
        "are uncharged; alone it leaves the race with sock_queue_err_skb(), which takes no socket lock: an "
        "skb charged between that purge and the decision is still charged there",
        on={"close_purges_errqueue": True}, off={"close_purges_errqueue": False}, tried=("F1",),
    ),
    Switch(
        "fix-F1-errqueue-closed", "sock_queue_err_skb(): refuse once close() has begun (with the purge)",
        "net/core/skbuff.c: sock_queue_err_skb() refuses the skb (the caller frees it) once __tcp_close() has "
        "begun, tested under the error queue's lock against a mark __tcp_close() sets under that lock; with "
        "fix-F1-purge-errqueue's purge of what was queued before, nothing is charged to the error queue at the "
        "decision. Alone, skbs queued before close() stay charged, so the kernel table refuses it without "
        "the purge (it sets close_purges_errqueue)",
        on={"errqueue_refuses_closed": True, "close_purges_errqueue": True}, off={"errqueue_refuses_closed": False},
        fixes=("F1",), needs=("fix-F1-purge-errqueue",),
    ),
    Switch(
        "fix-F6-detach-before-reset", "skb_defer_free_flush(): detach the list, then reset the count",
        "net/core/dev.c: skb_defer_free_flush() does llist_del_all() before atomic_set(&defer_count, 0) instead "
        "of after: a producer counting between the two pushes onto the new list and its increment is wiped, so "
        "the count can under-estimate the list until the next flush but never stays above an empty list",
        on={"flush_detach_first": True}, off={"flush_detach_first": False}, fixes=("F6",),
    ),
    Switch(
        "fix-F8-kick-once-per-epoch", "skb_attempt_defer_free(): kick at or past half capacity, once per epoch",
        "net/core/skbuff.c: skb_attempt_defer_free() increments defer_count with a cmpxchg loop that also sets a "
        "kicked bit of the same word when the count before it is at or above skb_defer_max >> 1 (not only "
        "equal) and the bit is clear; the attempt that set it kicks after its push. skb_defer_free_flush()'s "
        "update of the count (fix-F11's subtraction) clears the bit with it (net/core/dev.c). A write of "
        "skb_defer_max mid-epoch can then neither add a second kick to the epoch (F8) nor make every push miss "
        "the kick point (F10). It needs "
        "fix-F11-flush-subtracts-detached: with the flush's reset, an attempt counted after the claim and "
        "pushed after the flush's detach is left on the new list with no kick owed (F11, the dilemma: "
        "tests/test_fixes.py). The cost is a cmpxchg loop instead of atomic_inc_return()",
        on={"kick_once_per_epoch": True}, off={"kick_once_per_epoch": False}, fixes=("F8", "F10"),
        needs=("fix-F11-flush-subtracts-detached", "fix-F5-increment-below-max", "fix-F6-detach-before-reset"),
    ),
    Switch(
        "fix-F11-flush-subtracts-detached", "skb_defer_free_flush(): subtract the skbs detached instead of resetting",
        "net/core/dev.c: skb_defer_free_flush() detaches the list with llist_del_all() first, counts the skbs "
        "as it frees them, then takes that number off defer_count (one atomic update, which also clears "
        "fix-F8's kicked bit) instead of atomic_set(0); dev_cpu_dead()'s flush does the same. With "
        "fix-F5-increment-below-max (no fallback counts) the count is then the skbs on the list plus the "
        "attempts counted and not yet pushed, so an attempt counted before the flush and pushed after it "
        "stays counted in the new epoch, below its kick point, instead of being wiped (F11). It needs "
        "fix-F6-detach-before-reset's order (the kernel table refuses it without: it sets flush_detach_first) "
        "and excludes fix-F6-flush-resets-empty, whose reset of an empty slot would wipe the attempts it keeps "
        "counted",
        on={"flush_subtracts_detached": True, "flush_detach_first": True, "flush_resets_empty": False},
        off={"flush_subtracts_detached": False},
        fixes=("F11",), needs=("fix-F5-increment-below-max", "fix-F6-detach-before-reset"),
    ),
    Switch(
        "fix-F6-flush-resets-empty", "skb_defer_free_flush(): reset an empty slot's count too (does not fix F6)",
        "net/core/dev.c: skb_defer_free_flush() resets defer_count of a slot whose list is empty instead of "
        "skipping it. A wedged slot is then unwedged by the next NET_RX run on its CPU, but nothing raises one: "
        "every attempt falls back and none kicks, so the slot stays wedged until unrelated traffic comes",
        on={"flush_resets_empty": True}, off={"flush_resets_empty": False}, tried=("F6",),
    ),
)  # fmt: skip
SWITCHES.update({s.id: s for s in FIX_SWITCHES})


@attrs.frozen
class Kernel:
    """A named kernel: the switches it has (every other switch it lacks), its default
    ``skb_defer_max`` and NAPI skb cache size, and why it is named."""

    name: str
    has: frozenset[str]
    defer_max: int
    napi_cache_size: int
    doc: str

    @property
    def lacks(self) -> list[str]:
        """The commits of the history it lacks (a candidate fix it lacks is not listed)."""
        return [s for s, sw in SWITCHES.items() if s not in self.has and not sw.candidate]

    @property
    def fixes(self) -> list[str]:
        """The known findings that this kernel's switches remove."""
        return sorted({f for s in self.has for f in SWITCHES[s].fixes}, key=lambda f: int(f[1:]))

    def switches(self) -> dict[str, object]:
        """The Config fields its switches set (raises SpecError when the spec cannot express it)."""
        out: dict[str, object] = {}
        for sid, switch in SWITCHES.items():
            fields = switch.on if sid in self.has else switch.off
            if fields is None:
                raise SpecError(f"kernel {self.name}: the spec models only kernels with {sid} ({switch.title})")
            for key, value in fields.items():
                if out.setdefault(key, value) != value:
                    raise SpecError(f"kernel {self.name}: {sid} sets {key}={value!r}, which another switch sets "
                                    f"to {out[key]!r}")  # fmt: skip
        return out

    def config(self) -> Config:
        return Config(napi_cache_size=self.napi_cache_size, **self.switches())  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "has": sorted(self.has, key=list(SWITCHES).index), "lacks": self.lacks,
                "fixes": self.fixes, "defer_max": self.defer_max, "doc": self.doc}  # fmt: skip


# Every modelled kernel has these (their absence is not expressible).
_BASE = frozenset(s for s, sw in SWITCHES.items() if sw.off is None)
# v5.19 as released: the 2022 fixes all landed in its merge window.
_FIXES_2022 = frozenset({"97e719a82b43", "c09b0cd2cc6c", "909876500251", "f3412b3879b4"})
_V519 = _BASE | _FIXES_2022 | {"f278b6d5bb46"}
_V618 = _V519 | {"5f9238530970", "b13592d20b21", "844c9db7f7f5", "5628f3fe3b16"}
_V619 = _V618 | {"e20dfbad8aab"}


def _k(name: str, has: frozenset[str], doc: str, defer_max: int = 64, napi_cache_size: int = 64) -> Kernel:
    return Kernel(name, has, defer_max, napi_cache_size, doc)


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        _k("v5.19", _V519, "per-CPU defer lists under a spinlock (defer-v2), close-old, the summed unread test"),
        _k("v6.17", _V519, "as v5.19 for this mechanism (no zero-copy test: 0943404b1f3b never reached defer-v2)"),
        _k("v6.18", _V618, "close-new, the end_seq test, the lock-free per-node lists; without 0943404b1f3b "
           "(not in v6.18.0); the page-pool kick is not established for v6.18.0 (FACTS §14 read it in 6.18.35)"),
        _k("v6.18.y", _V618 | {"0943404b1f3b", "page_pool_release_retry"},
           "the 6.18.y stable series as read in 6.18.35: the zero-copy test and the page-pool kick"),
        _k("v6.19", _V619, "e20dfbad8aab's second producer; b61785852ed0 raised skb_defer_max to 128 and the NAPI "
           "cache grew to 128 (bulk 32); without 0943404b1f3b (not in v6.19.0)", 128, 128),
        _k("v6.19.y", _V619 | {"0943404b1f3b", "page_pool_release_retry"},
           "the 6.19.y stable series: the zero-copy test (FACTS §14); the page-pool kick assumed as in 6.18.y "
           "(stable series carry the same backports; unconfirmed)", 128, 128),
        _k("v7.3", _V619 | {"0943404b1f3b", "page_pool_release_retry", "06e3f54e8b22"},
           "v6.19.y with the hotplug flush (06e3f54e8b22, in v7.3 per FACTS §10, mechanics assumed); no other "
           "change since v6.19 is known to FACTS", 128, 128),
        # Right before each fix the spec can express (issue 12): the kernel that lacks only it,
        # among the kernels where it landed.
        _k("before-5f9238530970", _V618 - {"5f9238530970"}, "v6.18 without the end_seq unread test"),
        _k("before-b13592d20b21", _V618 - {"b13592d20b21"}, "v6.18 without close-new (close-old)"),
        _k("before-844c9db7f7f5", _V519 | {"5f9238530970", "b13592d20b21"},
           "v6.18 without the lock-free per-node lists (defer-v2; the spec models 844c9db7f7f5 and 5628f3fe3b16 "
           "together)"),
        _k("before-e20dfbad8aab", _V619 - {"e20dfbad8aab"}, "v6.19 without napi_consume_skb() deferring", 128, 128),
        _k("before-page_pool_release_retry", _V618 | {"0943404b1f3b"}, "v6.18.y without the page-pool kick"),
        _k("before-0943404b1f3b", _V618 | {"page_pool_release_retry"}, "v6.18.y without the zero-copy test"),
        _k("before-06e3f54e8b22", _V619 | {"0943404b1f3b", "page_pool_release_retry"},
           "v7.3 without the hotplug flush (as v6.19.y)", 128, 128),
        # The fixes of the v5.19 merge window and of 2025, each taken from the kernel where it
        # landed (v5.19; v6.15's mechanism is v6.17's). History: 68822bdf76f1 (Apr 22 2022),
        # f3412b3879b4 (Apr 27), then one series on May 16: 97e719a82b43, 2db60eed1a95,
        # 39564c3fdc66, 909876500251; c09b0cd2cc6c (May 18). So the kernel right before the IPI
        # guard really kicked at a fixed 128 with the flush after the polls; the spec takes away
        # the one fix from v5.19 instead, to show the bug each fix removed on its own.
        _k("before-97e719a82b43", _V519 - {"97e719a82b43"}, "v5.19 without the IPI guard"),
        _k("before-c09b0cd2cc6c", _V519 - {"c09b0cd2cc6c"},
           "v5.19 without Kicinski's skb_defer_max == 1 fix (the kick compares the count after the increment)"),
        _k("before-909876500251", _V519 - {"909876500251"}, "v5.19 without the flush before each poll: "
           "net_rx_action() flushes once, after its polls"),
        _k("before-f3412b3879b4", _V519 - {"f3412b3879b4", "909876500251"},
           "v5.19 as 68822bdf76f1 left net_rx_action(): the flush after the polls, skipped by a run with "
           "nothing to poll (909876500251 came three weeks later)"),
        _k("before-f278b6d5bb46", _V519 - {"f278b6d5bb46"},
           "the v6.15 merge window with 0de2a5c4b824 (as v6.17 for this mechanism; no release carried it): "
           "tcp_sock_rfree()'s plain update of sk_rmem_alloc"),
    )
}  # fmt: skip


# -- kernels with the candidate fixes (issue 12, part 3) -------------------------------------------
# v7.3 with every chosen fix, and v7.3 with each candidate fix (and the fixes it needs) alone.
CHOSEN_FIXES: tuple[str, ...] = (
    "fix-F5-increment-below-max", "fix-F7-defer-preempt-off", "fix-F2-page-pool-cpus-read-lock",
    "fix-F1-purge-errqueue", "fix-F1-errqueue-closed", "fix-F6-detach-before-reset",
    "fix-F11-flush-subtracts-detached", "fix-F8-kick-once-per-epoch",
)  # fmt: skip
_V73 = KERNELS["v7.3"].has
KERNELS["v7.3+fixes"] = _k("v7.3+fixes", _V73 | set(CHOSEN_FIXES),
                           "v7.3 with every chosen candidate fix: " + ", ".join(CHOSEN_FIXES), 128, 128)  # fmt: skip
for _fix in FIX_SWITCHES:
    KERNELS[f"v7.3+{_fix.id}"] = _k(
        f"v7.3+{_fix.id}",
        _V73 | {_fix.id, *_fix.needs},
        f"v7.3 with {_fix.id}" + "".join(f" and {n}" for n in _fix.needs),
        128,
        128,
    )


@attrs.frozen
class History:
    """One switch the spec can take away, as a pair of kernels that differ by it alone, and the
    small configuration (model/small.py SMALL) on which the explorer shows the difference: the
    known findings it meets on each. A finding only ``before`` is the bug the commit fixed; one
    only ``after`` came with it. A bug fixed long ago is no registered finding: the explorer
    reports it as the violation of the invariant ``violation_before`` (its shortest
    counterexample has ``steps`` steps; the ``before`` search stops there), and the kernel with
    the fix explores the configuration clean. Pinned by tests/test_kernels.py."""

    switch: str
    before: str
    after: str
    config: str
    findings_before: tuple[str, ...]
    findings_after: tuple[str, ...]
    why: str
    violation_before: str | None = None
    steps: int = 0
    # The machines that meet the bug under ``tcpclose check --kernel <before>`` (ci profile), as
    # measured (README); (): only the explorer finds it.
    check: tuple[str, ...] = ()


HISTORY: tuple[History, ...] = (
    History("5f9238530970", "before-5f9238530970", "v6.18", "retransmit-fin", ("F4",), (),
            "the spurious RST on a retransmitted FIN (rst_iff_data_lost) is gone with the end_seq test"),
    History("0943404b1f3b", "before-0943404b1f3b", "v6.18.y", "zcopy", ("F9",), (),
            "a deferred zero-copy skb (deferred_skb_holds_no_refs) is gone with the zero-copy test"),
    History("844c9db7f7f5", "before-844c9db7f7f5", "v6.18", "wedge", (), ("F5",),
            "the lock-free lists count fallbacks too: after skb_defer_max 0, the slot wedges (no_wedged_slot)"),
    History("b13592d20b21", "before-b13592d20b21", "v6.18", "acceptance", (), ("F7", "F2"),
            "close-old frees on the closing CPU and never defers; close-new's process-context producer can be "
            "stopped inside skb_attempt_defer_free() while the owner goes offline (F7, F2)"),
    History("page_pool_release_retry", "before-page_pool_release_retry", "v6.18.y", "page-pool", ("F7",),
            ("F7", "F2"), "the page-pool walk is a second claimant of the IPI guard: F2 without a producer's kick"),
    History("e20dfbad8aab", "before-e20dfbad8aab", "v6.19", "tx-producer", (), (),
            "the softirq TX producer racing the close's producer for one slot breaks no invariant on its small "
            "configuration (which has no hotplug)"),
    History("06e3f54e8b22", "before-06e3f54e8b22", "v7.3", "acceptance", ("F7", "F2"), ("F7", "F3", "F2"),
            "before it, skbs on a dead CPU's slots wait until it returns, as 68822bdf76f1 intended: no promise "
            "broken (FACTS §12 promises emptied slots only with the fix); with it, a late producer lands on the "
            "emptied slot (F3, dead_cpu_slots_emptied)"),
    # The historical bugs: each kernel before its fix violates an invariant on its own.
    History("97e719a82b43", "before-97e719a82b43", "v5.19", "ipi-race", (), (),
            "two recvmsg() producers kick in two epochs (a packet's NET_RX run flushes between them); without "
            "the guard both pass smp_call_function_single_async()'s lock test and queue CPU 0's descriptor "
            "twice", "at_most_one_ipi_in_flight", 18),
    History("c09b0cd2cc6c", "before-c09b0cd2cc6c", "v5.19", "recv-kick", (), (),
            "with skb_defer_max 1 the count after the increment (1) never equals 1 >> 1: the push that must "
            "kick does not, and the skb is stranded", "kick_at_half_capacity", 6,
            ("close", "hotplug", "race", "offline", "sysctl", "wedge")),
    History("909876500251", "before-909876500251", "v5.19", "arrival-flush", (), (),
            "the NAPI poll builds the arriving packet before the run's flush, which comes after the polls",
            "arrival_flushes_first", 8, ("close", "hotplug", "race", "offline", "sysctl", "wedge")),
    History("f3412b3879b4", "before-f3412b3879b4", "before-909876500251", "recv-kick", (), (),
            "the IPI's NET_RX run finds no NAPI to poll and returns before the flush: the kick is never served "
            "(with the flush before each poll, 909876500251, the same run flushes first)",
            "kick_leads_to_flush", 12, ("close",)),
    History("f278b6d5bb46", "before-f278b6d5bb46", "v6.17", "errqueue-race", (), ("F1",),
            "an error-queue charge between tcp_sock_rfree()'s read and write of sk_rmem_alloc is lost; with the "
            "atomic update only F1 (the error queue's charge left after the purge) remains",
            "rmem_matches_charged", 5),
)  # fmt: skip


def pre_fix(config: Config) -> list[Switch]:
    """The switches of HISTORY's historical bugs that ``config`` lacks: the pre-fix behaviours it
    runs (a trace's header names them)."""
    out = []
    for h in HISTORY:
        off = SWITCHES[h.switch].off
        if h.violation_before is not None and off and all(getattr(config, k) == v for k, v in off.items()):
            out.append(SWITCHES[h.switch])
    return out


def kernel(name: str) -> Kernel:
    """The named kernel, or SpecError with one line listing the names."""
    if name not in KERNELS:
        raise SpecError(f"unknown kernel {name!r} (known: {', '.join(KERNELS)})")
    return KERNELS[name]


def matching(config: Config) -> list[str]:
    """The named kernels whose switches ``config`` holds (its preemption model, sizes and
    constants aside): what a trace with this configuration runs."""
    out = []
    for k in KERNELS.values():
        try:
            fields = k.switches()
        except SpecError:
            continue
        if all(getattr(config, key) == value for key, value in fields.items()):
            out.append(k.name)
    return out
