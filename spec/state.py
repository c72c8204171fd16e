"""The state of the machine the spec describes: skbs, sockets, CPUs and the protocol page count.

Every record is frozen; transitions build new records (core.evolve), so a rejected step leaves
the state intact and states can be hashed by the exhaustive explorer. The records that change at
every step keep their fields in a ``__dict__`` (``slots=False``) so that core.evolve can copy
them with one dict update: attrs.evolve re-runs ``__init__`` and costs five times as much.

Names follow the kernel: include/linux/skbuff.h (struct sk_buff), include/net/sock.h (struct
sock), include/linux/netdevice.h (struct softnet_data, v6.17), net/core/dev.c and
include/net/hotdata.h (struct skb_defer_node, v6.18). Where a field is ours (a program counter,
a ghost history kept only so that invariants can see what happened) its comment says so.
"""

from __future__ import annotations

from typing import Literal

import attrs

# Where an skb is. ("rcv_queue", sk) / ("err_queue", sk): queued on a socket.
# ("held", "task", sk): unlinked and in the hands of that socket's task (between the unlink and
# the hand-off). ("defer_list", cpu, node): on a defer slot. ("held", "softirq", cpu): detached by a
# flush on that CPU, not yet freed. ("freed",): returned to the allocator.
Where = tuple[str | int, ...]
# Who acts: ("task", sk), ("softirq", cpu), ("hotplug", cpu), ("rx", cpu).
Context = tuple[str, int]

CloseVariant = Literal["close-old", "close-new"]
UnreadTest = Literal["end_seq", "len_sum"]
DeferVariant = Literal["defer-v6", "defer-v2"]
Preempt = Literal["none", "voluntary", "full"]
V2KickCount = Literal["before", "after"]
TcpState = Literal["ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT1", "LAST_ACK", "LISTEN", "CLOSE"]


@attrs.frozen(cache_hash=True)
class Config:
    """The spec's variants and the kernel's constants. Bounds on the world (how many CPUs,
    sockets, skbs) are chosen in model/, not here.

    - ``close_path``: close-old (``__kfree_skb()`` in the purge loop, up to v6.17) or close-new
      (``tcp_eat_recv_skb()``, b13592d20b21, v6.18).
    - ``unread_test``: "end_seq" (5f9238530970, v6.18) or "len_sum" (the summed payload before it).
    - ``defer``: defer-v6 (lock-free, per-node slots, v6.18) or defer-v2 (spinlock, v5.19-v6.17).
    - ``hotplug_flush``: dev_cpu_dead() empties the dead CPU's slots (06e3f54e8b22) or not.
    - ``napi_cache_size``/``napi_cache_bulk``: NAPI skb cache (v6.18: 64/32; v6.19: 128/32).
    - ``preempt``: the kernel's preemption model (CONFIG_PREEMPT_NONE, _VOLUNTARY, or full:
      CONFIG_PREEMPT or PREEMPT_DYNAMIC full/lazy). It decides where a process-context task can
      be stopped: a migration, or a CPU going offline under stop_machine(), can fall inside
      skb_attempt_defer_free() only under ``full`` (FACTS §14, "taking a CPU down").
    - ``zcopy_check``: skb_attempt_defer_free() frees a zero-copy skb at once (0943404b1f3b, in
      the 6.18.y and 6.19.y stable trees, not in v6.18.0 or v6.19.0, never in defer-v2 kernels;
      FACTS §14).
    - ``page_pool_kick``: page_pool_release_retry() kicks every online CPU's defer lists through
      the same IPI guard (net/core/page_pool.c, read in 6.18.35; FACTS §14).
    - ``napi_consume_defers``: napi_consume_skb() hands a TX skb built on another CPU to
      skb_attempt_defer_free() from the NAPI poll (e20dfbad8aab, v6.19; FACTS §14); without it,
      a TX completion frees the skb where it completes.

    The fields below are fixes of 2022 and 2025; each defaults to the fixed behaviour and False
    (or "after") gives the kernel right before the fix (model/kernels.py ``before-<id>``):

    - ``ipi_guard``: kick_defer_list_purge() queues the IPI only if it can set
      ``defer_ipi_scheduled`` (97e719a82b43, v5.19). Without it, the kick calls
      smp_call_function_single_async(), whose test of the descriptor's lock flag and setting of
      that flag are separate steps (kernel/smp.c, v5.18), so two kickers can queue one
      descriptor twice.
    - ``v2_kick_count``: which count the defer-v2 kick compares with ``skb_defer_max >> 1``:
      "before" the increment (c09b0cd2cc6c, Kicinski's message 20220518185522.2038683-1-kuba,
      v5.19) or "after" it (39564c3fdc66 as first merged: with a maximum of 1 nothing kicks).
    - ``flush_before_poll``: net_rx_action() flushes at the top of every iteration, before each
      NAPI poll (909876500251, v5.19); without it the flush comes once, after the polls.
    - ``idle_run_flushes``: a NET_RX run that finds no NAPI to poll still flushes (f3412b3879b4,
      v5.19); before it such a run returned without flushing. Matters only without
      ``flush_before_poll``.
    - ``rmem_atomic``: tcp_eat_recv_skb()'s uncharge of ``sk_rmem_alloc`` is atomic (f278b6d5bb46,
      v6.15, the revert of 0de2a5c4b824); without it tcp_sock_rfree() reads the count and writes
      it back in a later step, so an error-queue charge in between is lost.
    Candidate fixes of the findings (properties/findings.py), each a switch ``fix-*`` of
    model/kernels.py; False is every released kernel's behaviour:
    - ``defer_test_first`` (F5): skb_attempt_defer_free() tests the slot's count against the
      maximum before its atomic increment, as defer-v2 did, so a fallback does not count.
    - ``defer_count_below_max`` (F5): the increment is a cmpxchg loop that adds only while the
      count is below the maximum, so no fallback ever counts, concurrent ones included.
    - ``defer_preempt_off`` (F7, F3, F2): a process-context producer runs the attempt with
      preemption (BH) disabled, so neither stop_machine() nor a migration falls inside it.
    - ``page_pool_cpus_lock`` (F2): page_pool_release_retry() walks the online CPUs under
      cpus_read_lock(), so no CPU goes down between a CPU's online test and its kick.
    - ``close_purges_errqueue`` (F1): __tcp_close() purges sk_error_queue after the receive queue.
    - ``errqueue_refuses_closed`` (F1): sock_queue_err_skb() refuses an skb once close() began.
    - ``flush_detach_first`` (F6): skb_defer_free_flush() detaches the list before resetting the count.
    - ``flush_resets_empty`` (F6 candidate): the flush resets the count of an empty slot too.
    - ``kick_once_per_epoch`` (F8, F10): a push at or above half the maximum it read asks to kick,
      and a per-slot flag, cleared by the flush, lets the first of them kick.
    - ``flush_subtracts_detached`` (F11): the flush (and dev_cpu_dead()'s) subtracts from the
      count the skbs it detached instead of setting it to 0 (with ``flush_detach_first``).
    """

    close_path: CloseVariant = "close-new"
    unread_test: UnreadTest = "end_seq"
    defer: DeferVariant = "defer-v6"
    hotplug_flush: bool = False
    page_size: int = 4096
    mem_pcpu_rsv: int = 256
    napi_cache_size: int = 64
    napi_cache_bulk: int = 32
    preempt: Preempt = "full"
    zcopy_check: bool = False
    page_pool_kick: bool = False
    napi_consume_defers: bool = False
    ipi_guard: bool = True
    v2_kick_count: V2KickCount = "before"
    flush_before_poll: bool = True
    idle_run_flushes: bool = True
    rmem_atomic: bool = True
    # Candidate fixes (issue 12, part 3): see above.
    defer_test_first: bool = False
    defer_count_below_max: bool = False
    defer_preempt_off: bool = False
    page_pool_cpus_lock: bool = False
    close_purges_errqueue: bool = False
    errqueue_refuses_closed: bool = False
    flush_detach_first: bool = False
    flush_resets_empty: bool = False
    kick_once_per_epoch: bool = False
    flush_subtracts_detached: bool = False


@attrs.frozen(slots=False, cache_hash=True)
class Incoming:
    """A packet the workload will deliver to a socket, on the CPU whose softirq receives it.
    ``overlap`` bytes before ``rcv_nxt`` are a retransmission of data already received.
    ``errqueue`` marks an error-queue skb (a timestamp or zero-copy notification)."""

    cpu: int
    length: int
    truesize: int
    fin: bool = False
    overlap: int = 0
    zcopy: bool = False
    fclone: bool = False
    errqueue: bool = False


@attrs.frozen(slots=False, cache_hash=True)
class UserOp:
    """A system call the socket's owner will make: ``recv`` of ``nbytes`` or ``close``, on ``cpu``."""

    op: Literal["recv", "close"]
    cpu: int
    nbytes: int = 0


@attrs.frozen(slots=False, cache_hash=True)
class FreeEvent:
    """One free of an skb: the CPU that did it and how (``kfree_skb``, ``nodefer:<reason>``,
    ``flush``, ``hotplug_flush``)."""

    cpu: int
    how: str


@attrs.frozen(slots=False, cache_hash=True)
class DeferRecord:
    """Ghost: how an skb came to be on a defer slot, and what each read of the attempt saw, for
    the placement invariants: the CPU the producer ran on at its reads (v6: the
    ``numa_node_id()`` read that chose ``node``; v2: the racy pre-check), the slot's node, the
    slot's epoch at the increment (v2: under the lock), the count it obtained (v6: the
    increment's result; v2: the count after its own increment), the ``skb_defer_max`` it read
    (once, for both its tests), the count the v2 pre-check read (-1 under v6), and the CPU the
    producer ran on at the increment (v6; v2: at the lock), which differs from the first after a
    migration between the reads and the increment; and the target CPU's ``hotplug_gen`` at the
    online check and at the push (-1: not known). ``place`` is ghost too, set only by a flush that
    subtracts what it detached (``Config.flush_subtracts_detached``): where the slot's count then
    has this skb (-1: where its increment put it, ``count``)."""

    producer_cpu: int
    node: int
    epoch: int
    count: int
    defer_max: int
    seen_count: int = -1
    counted_cpu: int = -1
    checked_gen: int = -1
    pushed_gen: int = -1
    place: int = -1

    @property
    def position(self) -> int:
        """The skb's place in its slot's count: the increment's result, unless a subtracting flush
        has since moved it down (fix-F11-flush-subtracts-detached)."""
        return self.place if self.place >= 0 else self.count


@attrs.frozen(slots=False, cache_hash=True)
class Skb:
    """An sk_buff with its lifecycle. ``sk`` and ``destructor`` are the kernel's fields
    (cleared by tcp_eat_recv_skb()); ``owner_sk`` is ghost: the socket it was received on (-1: a TX skb), kept
    after ``sk`` is cleared so that invariants can attribute it."""

    id: int
    owner_sk: int
    truesize: int
    seq: int
    end_seq: int
    fin: bool
    alloc_cpu: int
    zcopy: bool
    fclone: bool
    sk: int | None
    destructor: Literal["sock_rfree", "sock_rmem_free"] | None
    where: Where
    frees: tuple[FreeEvent, ...] = ()
    # Ghost: writes to the skb by a context that did not hold it (a use after hand-off).
    stray_touches: tuple[Context, ...] = ()
    # Ghost: set when the skb is pushed onto a defer slot.
    deferred: DeferRecord | None = None


@attrs.frozen(slots=False, cache_hash=True)
class DeferCtx:
    """A skb_attempt_defer_free() in progress in a task (ours: the program counter and locals).

    ``pc`` is the next step: "check", "read", "count" (defer-v6 only), "push", "kick", "csd"
    (without the IPI guard: the kick found the IPI descriptor unlocked and queues it next). ``cpu``
    is the target (the skb's alloc_cpu), ``node`` the slot chosen by the read of this CPU's node
    (v6), ``defer_max`` the sysctl value the read step saw, ``seen_count`` the count the v2
    pre-check read, ``count`` the value the atomic increment returned (v6)."""

    skb: int
    pc: Literal["check", "read", "count", "push", "kick", "csd"] = "check"
    cpu: int = -1
    read_on: int = -1  # ghost: the CPU the task ran on at the read step
    counted_on: int = -1  # ghost: the CPU the task ran on at the count step (v6)
    counted_epoch: int = -1  # ghost: the slot epoch the count belongs to (v6: at the count; v2: at the push)
    checked_gen: int = -1  # ghost: the target CPU's hotplug_gen when the online check passed
    node: int = 0
    count: int = 0
    defer_max: int = 0
    seen_count: int = -1
    claimed: bool = False  # fix-F8: the count step claimed this epoch's kick
    place: int = -1  # ghost, fix-F11: the place a subtracting flush left this counted attempt (-1: ``count``)


@attrs.frozen(slots=False, cache_hash=True)
class Task:
    """A process-context system call holding the socket lock (ours: program counter and locals).

    ``phase``: "copy" (recvmsg), "purge" or "decide" (close). ``data_was_unread`` is the kernel's
    local of __tcp_close(): 0/1 for the end_seq test, a u32 sum for the len_sum test. ``rfree``
    (only without ``Config.rmem_atomic``): the skb tcp_eat_recv_skb() has unlinked and the
    ``sk_rmem_alloc`` value tcp_sock_rfree() read, not yet written back."""

    op: Literal["recv", "close"]
    cpu: int
    phase: Literal["copy", "purge", "decide"]
    recv_left: int = 0
    data_was_unread: int = 0
    defer: DeferCtx | None = None
    rfree: tuple[int, int] | None = None


@attrs.frozen(slots=False, cache_hash=True)
class Sock:
    """A TCP socket with the fields close and recvmsg touch (include/net/sock.h, linux/tcp.h).

    ``ops`` and ``rx`` are the workload still to come (set by model/). ``TCPABORTONCLOSE`` and
    ``TCPABORTONDATA`` count the MIB increments this socket caused."""

    id: int
    sk_state: TcpState
    rcv_nxt: int
    copied_seq: int
    sk_receive_queue: tuple[int, ...] = ()
    sk_error_queue: tuple[int, ...] = ()
    sk_rmem_alloc: int = 0
    sk_forward_alloc: int = 0
    sk_reserved_mem: int = 0
    sock_linger: bool = False
    sk_lingertime: int = 0
    repair: bool = False
    shutdown: bool = False
    TCPABORTONCLOSE: int = 0
    TCPABORTONDATA: int = 0
    destroyed: bool = False  # inet_sock_destruct() has run (ours: the socket is gone)
    rst_sent: int = 0
    fin_sent: int = 0
    owner: Task | None = None
    ops: tuple[UserOp, ...] = ()
    rx: tuple[Incoming, ...] = ()


@attrs.frozen(slots=False, cache_hash=True)
class DeferSlot:
    """One defer slot: for defer-v6 a ``struct skb_defer_node`` (lock-free list and atomic count)
    of one (owning CPU, freeing node) pair; for defer-v2 the per-CPU list in softnet_data.
    ``defer_list`` is ordered newest first, as llist_add() pushes at the head.
    ``epoch`` is ghost: how many times a flush has reset this slot. ``kicks`` is ghost too: one
    entry per kick_defer_list_purge() a producer of this slot made, as (the slot epoch its count
    belongs to, the ``skb_defer_max`` it read), so that kicks can be counted per epoch."""

    defer_list: tuple[int, ...] = ()
    defer_count: int = 0
    epoch: int = 0
    kicks: tuple[tuple[int, int], ...] = ()
    # fix-F8-kick-once-per-epoch only: a producer has claimed the kick since the last reset (the
    # patch keeps it as a bit of the count's word, set by the increment's cmpxchg and cleared by
    # the reset with the count); always False otherwise.
    kicked: bool = False


@attrs.frozen(slots=False, cache_hash=True)
class FlushCtx:
    """A NET_RX softirq's skb_defer_free_flush() in progress (ours: program counter and locals).
    ``node`` is the slot being flushed, ``pc`` its next step, ``batch`` the detached list,
    ``rx_sk`` the socket whose arriving packet the NAPI poll of this run builds once the flush
    is over (None for a run raised by the IPI or by unrelated traffic), ``tx_cpu`` the CPU that
    built the TX skb whose completion the poll handles (None: no TX completion), and ``defer``
    the skb_attempt_defer_free() that napi_consume_skb() makes for it (pc "consume")."""

    node: int = 0
    pc: Literal["reset", "detach", "free", "consume"] = "reset"
    batch: tuple[int, ...] = ()
    rx_sk: int | None = None
    tx_cpu: int | None = None
    defer: DeferCtx | None = None


@attrs.frozen(slots=False, cache_hash=True)
class PagePoolWork:
    """page_pool_release_retry() in progress on a workqueue (ours): its walk over the online
    CPUs has read ``cpu``'s online bit set and is about to kick that CPU."""

    cpu: int = 0


@attrs.frozen(slots=False, cache_hash=True)
class Cpu:
    """One CPU: hotplug state, its defer slots (one per NUMA node of the machine under defer-v6,
    only slot 0 under defer-v2), the IPI guard and the queued defer IPI, the NET_RX pending bit, the
    NAPI skb cache (a count of cached heads) and this CPU's share of the protocol page count."""

    id: int
    node: int
    online: bool = True
    dead_pending: bool = False  # offline, dev_cpu_dead() not yet run (ours)
    defer_slots: tuple[DeferSlot, ...] = ()
    defer_ipi_scheduled: bool = False
    ipi_queued: int = 0  # times defer_csd is queued and not yet handled (the kernel keeps it <= 1)
    net_rx_pending: bool = False
    softirq: FlushCtx | None = None
    napi_skb_cache: int = 0
    per_cpu_fw_alloc: int = 0
    # Ghost: a producer kicked this CPU and no NET_RX run has started since (liveness check).
    kick_unserved: bool = False
    # Ghost: the CPU's hotplug phase, counted: +1 at offline, at dev_cpu_dead() and at online, so
    # hotplug_gen % 3 is 0 online, 1 dying, 2 dead, and each period has its own number.
    hotplug_gen: int = 0


@attrs.frozen(slots=False, cache_hash=True)
class Env:
    """How much the environment may still do (ours; model/ sets the budgets so runs are finite):
    migrate a task, raise NET_RX through unrelated traffic, take a CPU offline, write the sysctl,
    destroy a page pool whose pages are still in flight (page_pool_release_retry() runs), and
    the TX completions the NICs will report."""

    migrations: int = 0
    netrx_raises: int = 0
    offlines: int = 0
    defer_max_values: tuple[int, ...] = ()
    defer_max_writes: int = 0
    page_pool_releases: int = 0
    # TX completions still to come, in order: (CPU that built the skb, CPU whose NAPI poll
    # completes it).
    tx_completions: tuple[tuple[int, int], ...] = ()


@attrs.frozen(slots=False, cache_hash=True)
class State:
    """The whole machine: configuration, the sysctl, CPUs, the protocol page count, sockets, skbs."""

    config: Config
    skb_defer_max: int
    cpus: tuple[Cpu, ...]
    sockets: tuple[Sock, ...]
    skbs: tuple[Skb, ...] = ()
    memory_allocated: int = 0
    env: Env = Env()
    page_pool: PagePoolWork | None = None

    @property
    def nodes(self) -> int:
        """Number of NUMA nodes (for_each_node() in the flush)."""
        return len(self.cpus[0].defer_slots)
