"""The mutant catalogue: plausible wrong edits of the spec, each of which a named invariant must
catch. A mutant replaces one small piece of the spec from outside (a module attribute, for the
duration of a ``with`` block); the spec itself carries no mutant switch.

Each entry says what the edit is, which invariant catches it, and the part of the input space
(a ``Focus``) where it shows: a kernel variant, a machine shape, hotplug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import attrs

from properties.workloads import Focus
from spec import accounting, close, core, defer, flush, hotplug, receive, rules, skbuff
from spec.core import Draft
from spec.state import DeferCtx, FlushCtx


@attrs.frozen
class Mutant:
    name: str
    doc: str
    invariants: tuple[str, ...]  # the invariants that catch it (the first to fire depends on the trace)
    patches: tuple[tuple[ModuleType, str, Callable[..., Any]], ...]
    focus: Focus = attrs.field(factory=Focus)

    @contextmanager
    def applied(self) -> Iterator[None]:
        saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in self.patches]
        try:
            for mod, attr, fn in self.patches:
                setattr(mod, attr, fn)
            yield
        finally:
            for mod, attr, fn in saved:
                setattr(mod, attr, fn)


# -- wrong edits of whole steps (each mirrors the spec function it replaces, with the one error) --


def _eat_without_uncharge(state: Draft, sk: int, skb_id: int) -> Draft:
    cpu = core.task_of(state, sk).cpu
    state = core.unlink(state, sk, skb_id)
    if state.skbs[skb_id].destructor != "sock_rfree":
        return skbuff.kfree_skb(state, skb_id, ("task", sk), cpu, "kfree_skb")
    state = core.touch(state, skb_id, ("task", sk), destructor=None, sk=None)  # sock_rfree() forgotten
    return core.set_task(state, sk, defer=DeferCtx(skb=skb_id))


def _eat_keeping_destructor(state: Draft, sk: int, skb_id: int) -> Draft:
    cpu = core.task_of(state, sk).cpu
    state = core.unlink(state, sk, skb_id)
    skb = state.skbs[skb_id]
    if skb.destructor != "sock_rfree" or skb.sk is None:
        return skbuff.kfree_skb(state, skb_id, ("task", sk), cpu, "kfree_skb")
    state = accounting.sock_rfree(state, skb.sk, cpu, skb.truesize)  # destructor and sk kept
    return core.set_task(state, sk, defer=DeferCtx(skb=skb_id))


_push = defer.apply_defer_push


def _push_then_clear(state: Draft, a: Any) -> Draft:
    skb_id = core.task_of(state, a.sk).defer.skb  # type: ignore[union-attr]
    state = _push(state, a)
    return core.touch(state, skb_id, ("task", a.sk), destructor=None, sk=None)  # after the hand-off


def _kick_without_guard(state: Draft, cpu: int) -> Draft:
    target = state.cpus[cpu]
    state = core.set_cpu(state, cpu, kick_unserved=True)
    return core.set_cpu(state, cpu, defer_ipi_scheduled=True, ipi_queued=target.ipi_queued + int(target.online))


def _ipi_keeping_guard(state: Draft, a: Any) -> Draft:
    cpu = state.cpus[a.cpu]
    return core.set_cpu(state, a.cpu, ipi_queued=cpu.ipi_queued - 1, net_rx_pending=True)


def _softirq_start_without_flush(state: Draft, a: Any) -> Draft:
    return core.set_cpu(state, a.cpu, net_rx_pending=False)  # the run returns before any flush


def _rfree_write_without_sub(state: Draft, sk: int) -> Draft:
    task = core.task_of(state, sk)
    assert task.rfree is not None
    skb_id, seen = task.rfree
    state = core.set_task(state, sk, rfree=None)
    # the value read is written back as it was: the truesize is never taken off
    state = core.set_sock(state, sk, sk_rmem_alloc=seen + state.skbs[skb_id].truesize)
    return close._uncharge_and_defer(state, sk, skb_id, task.cpu)


_check = defer.apply_defer_check


def _check_without(test: str) -> Callable[[Draft, Any], Draft]:
    """DeferCheck with one of its tests dropped: the skb's CPU is made to look acceptable."""

    def mutant(state: Draft, a: Any) -> Draft:
        task = core.task_of(state, a.sk)
        ctx = task.defer
        assert ctx is not None
        skb = state.skbs[ctx.skb]
        skip = (test == "online" and not state.cpus[skb.alloc_cpu].online) or (
            test == "same_cpu" and skb.alloc_cpu == task.cpu
        )
        if not skip:
            return _check(state, a)
        return core.set_task(state, a.sk, defer=core.evolve(ctx, pc="read", cpu=skb.alloc_cpu))

    return mutant


def _check_targets_self(state: Draft, a: Any) -> Draft:
    state = _check(state, a)
    task = state.sockets[a.sk].owner
    if task is not None and task.defer is not None and task.defer.pc == "read":
        state = core.set_task(state, a.sk, defer=core.evolve(task.defer, cpu=task.cpu))
    return state


_count = defer.apply_defer_count
_read = defer.apply_defer_read


def _read_owner_node(state: Draft, a: Any) -> Draft:
    """The slot of the owning CPU's node instead of the freeing CPU's (pre-5628f3fe3b16 thinking)."""
    task = core.task_of(state, a.sk)
    ctx = task.defer
    assert ctx is not None
    real = state.cpus[task.cpu]
    state.cpus[task.cpu] = core.evolve(real, node=state.cpus[ctx.cpu].node)
    state = _read(state, a)
    state.cpus[task.cpu] = core.evolve(state.cpus[task.cpu], node=real.node)
    return state


def _flush_free_elsewhere(state: Draft, a: Any) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    other = (a.cpu + 1) % len(state.cpus)
    for skb_id in ctx.batch:
        state = skbuff.napi_consume_skb(state, skb_id, ("softirq", a.cpu), other, "flush")
    return flush._next_slot(state, a.cpu, ctx)


def _flush_forgets_batch(state: Draft, a: Any) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    return flush._next_slot(state, a.cpu, ctx)


def _v2_detach_keeps_count(state: Draft, a: Any) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    slot = core.slot(state, a.cpu, ctx.node)
    if not slot.defer_list:
        return flush._next_slot(state, a.cpu, ctx)
    state = core.set_slot(state, a.cpu, ctx.node, defer_list=(), epoch=slot.epoch + 1)
    for skb_id in slot.defer_list:
        state = core.hand(state, skb_id, ("softirq", a.cpu), ("held", "softirq", a.cpu))
    return core.set_cpu(state, a.cpu, softirq=core.evolve(ctx, pc="free", batch=slot.defer_list))


def _kfree_without_destructor(state: Draft, skb_id: int, ctx: Any, cpu: int, how: str) -> Draft:
    return core.free_skb(state, skb_id, ctx, cpu, how, napi=False)


_decide = close.apply_close_decide


def _decide_linger_first(state: Draft, a: Any) -> Draft:
    sock = state.sockets[a.sk]
    if sock.sock_linger and sock.sk_lingertime == 0 and sock.sk_state != "CLOSE" and not sock.repair:
        return core.set_sock(
            state, a.sk, owner=None, sk_state="CLOSE", TCPABORTONDATA=sock.TCPABORTONDATA + 1,
            rst_sent=sock.rst_sent + int(sock.sk_state in close.NEED_RESET),
        )  # fmt: skip
    return _decide(state, a)


_purge = close.apply_purge_step


def _purge_counts_abort_per_skb(state: Draft, a: Any) -> Draft:
    before = core.task_of(state, a.sk).data_was_unread
    state = _purge(state, a)
    task = state.sockets[a.sk].owner
    if task is not None and task.data_was_unread and not before:
        state = core.set_sock(state, a.sk, TCPABORTONCLOSE=state.sockets[a.sk].TCPABORTONCLOSE + 1)
    return state


def _rfree_without_reclaim(state: Draft, sk: int, cpu: int, truesize: int) -> Draft:
    sock = state.sockets[sk]
    return core.set_sock(
        state,
        sk,
        sk_rmem_alloc=sock.sk_rmem_alloc - truesize,
        sk_forward_alloc=sock.sk_forward_alloc + truesize,
    )


def _dev_cpu_dead_leaks(state: Draft, a: Any) -> Draft:
    state = core.set_cpu(state, a.cpu, dead_pending=False)
    if state.config.hotplug_flush:
        for node, slot in enumerate(state.cpus[a.cpu].defer_slots):
            state = core.set_slot(state, a.cpu, node, defer_list=(), defer_count=0, epoch=slot.epoch + 1)
            for skb_id in slot.defer_list:  # detached, never freed
                state = core.hand(state, skb_id, ("hotplug", a.cpu), ("held", "hotplug", a.cpu))
    return state


HOTPLUG = Focus(hotplug=True)

MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant("fallback_strict", "fallback only when count > max (off by one)", ("full_slot_falls_back",),
               ((rules, "defer_fallback", lambda c, m: c > m),), Focus(defer="defer-v6")),
        Mutant("kick_at_half", "kick when count == max/2, forgetting the increment came first",
               ("kick_at_half_capacity",), ((rules, "defer_kick", lambda c, m: c == m >> 1),), Focus(defer="defer-v6")),
        Mutant("v2_kick_after_increment", "defer-v2 kick decided on the count after the increment",
               ("kick_at_half_capacity",), ((rules, "defer_v2_kick", lambda b, m: b + 1 == m >> 1),),
               Focus(defer="defer-v2")),
        Mutant("v2_precheck_strict", "defer-v2 pre-check lets count == max through", ("full_slot_falls_back",),
               ((rules, "defer_v2_full", lambda c, m: c > m),), Focus(defer="defer-v2")),
        Mutant("reclaim_strict", "reclaim only above a page (> instead of >=)", ("forward_alloc_bound",),
               ((rules, "reclaim_pages", lambda f, u, p: (f - u) // p if f - u > p else 0),)),
        Mutant("pcpu_fold_strict", "fold the per-CPU page cache only beyond the reserve", ("pcpu_within_reserve",),
               ((rules, "pcpu_drains", lambda v, r: v > r or v < -r),)),
        Mutant("unread_counts_fin", "the unread test forgets that a FIN is not data", ("rst_iff_data_lost",),
               ((rules, "unread_by_end_seq", lambda e, fin, c: rules.after(e, c)),)),
        Mutant("after_without_wrap", "after() compares sequence numbers as plain integers", ("rst_iff_data_lost",),
               ((rules, "after", lambda a, b: a > b),), Focus(isn=(1 << 32) - 1500)),
        Mutant("schedule_rounds_down", "page reservation rounds the shortfall down", ("forward_alloc_nonnegative",),
               ((rules, "schedule_pages", lambda f, t, p: max(0, (t - f) // p)),)),
        Mutant("eat_skips_uncharge", "tcp_eat_recv_skb() clears the destructor without calling it",
               ("rmem_matches_charged",), ((close, "tcp_eat_recv_skb", _eat_without_uncharge),),
               Focus(close_path="close-new")),
        Mutant("eat_keeps_destructor", "tcp_eat_recv_skb() uncharges but leaves destructor and sk set",
               ("rmem_matches_charged",), ((close, "tcp_eat_recv_skb", _eat_keeping_destructor),),
               Focus(close_path="close-new")),
        Mutant("clear_after_push", "destructor and sk cleared after the skb is on the list",
               ("no_touch_after_handoff",), ((defer, "apply_defer_push", _push_then_clear),)),
        Mutant("kick_without_guard", "kick queues the IPI without the defer_ipi_scheduled test",
               ("at_most_one_ipi_in_flight",), ((defer, "kick_defer_list_purge", _kick_without_guard),),
               Focus(defer="defer-v6", machine="3cpu-2node", rx_cpu=0, defer_max=3, close_cpus=(1, 2))),
        Mutant("ipi_keeps_guard", "the IPI handler raises NET_RX but never clears defer_ipi_scheduled",
               ("kick_leads_to_flush",), ((flush, "apply_ipi_deliver", _ipi_keeping_guard),)),
        Mutant("no_online_check", "skb_attempt_defer_free() without the cpu_online() test",
               ("defer_check_sees_online",), ((defer, "apply_defer_check", _check_without("online")),), HOTPLUG),
        Mutant("no_same_cpu_check", "skb_attempt_defer_free() defers to its own CPU",
               ("defer_check_sees_online",), ((defer, "apply_defer_check", _check_without("same_cpu")),)),
        Mutant("slot_of_freeing_cpu", "the slot of the freeing CPU instead of the owning one",
               ("placed_by_the_rules",), ((defer, "apply_defer_check", _check_targets_self),)),
        Mutant("slot_of_owner_node", "the node slot of the owning CPU's node, not the freeing CPU's",
               ("full_slot_falls_back", "placed_by_the_rules"), ((defer, "apply_defer_read", _read_owner_node),),
               Focus(defer="defer-v6", machine="2cpu-2node")),
        Mutant("flush_frees_elsewhere", "the flush frees its batch on another CPU", ("flush_frees_locally",),
               ((flush, "apply_flush_free", _flush_free_elsewhere),)),
        Mutant("flush_forgets_batch", "the flush detaches the list and never frees it", ("skb_in_exactly_one_place",),
               ((flush, "apply_flush_free", _flush_forgets_batch),)),
        Mutant("v2_detach_keeps_count", "defer-v2 flush detaches the list but keeps the count",
               ("v2_count_matches_list",), ((flush, "apply_flush_detach", _v2_detach_keeps_count),),
               Focus(defer="defer-v2")),
        Mutant("close_old_skips_destructor", "close-old frees without running the destructor",
               ("rmem_matches_charged",), ((skbuff, "kfree_skb", _kfree_without_destructor),),
               Focus(close_path="close-old")),
        Mutant("linger_before_unread", "the decision tests SO_LINGER 0 before unread data", ("rst_iff_data_lost",),
               ((close, "apply_close_decide", _decide_linger_first),)),
        Mutant("abort_per_unread_skb", "TCPABORTONCLOSE counted in the purge loop", ("abort_counted_once_per_close",),
               ((close, "apply_purge_step", _purge_counts_abort_per_skb),)),
        Mutant("uncharge_without_reclaim", "sock_rfree() gives bytes back but never whole pages",
               ("forward_alloc_bound",), ((accounting, "sock_rfree", _rfree_without_reclaim),)),
        Mutant("hotplug_flush_leaks", "dev_cpu_dead() detaches the dead CPU's lists and frees nothing",
               ("dev_cpu_dead_empties_slots",), ((hotplug, "apply_dev_cpu_dead", _dev_cpu_dead_leaks),),
               Focus(hotplug=True, hotplug_flush=True)),
    )
}  # fmt: skip


# -- mutants for the invariants the catalogue above does not reach first -------------------------


def _fold_drops_pages(state: Draft, cpu: int, pages: int) -> Draft:
    local = state.cpus[cpu].per_cpu_fw_alloc + pages
    if rules.pcpu_drains(local, state.config.mem_pcpu_rsv):
        local = 0  # the per-CPU value is cleared, but never added to memory_allocated
    return core.set_cpu(state, cpu, per_cpu_fw_alloc=local)


def _guard_decide_early(state: Any, a: Any) -> str | None:
    task = state.sockets[a.sk].owner
    if task is None or task.op != "close" or task.defer is not None:
        return "no close() of this socket is between skbs"
    return core.task_blocked(state, a.sk)  # forgets to wait for an empty receive queue


def _napi_consume_fclone_twice(state: Draft, skb_id: int, ctx: Any, cpu: int, how: str) -> Draft:
    state = skbuff.kfree_skb_napi_cache(state, skb_id, ctx, cpu, how)
    if state.skbs[skb_id].fclone:  # "clones take __kfree_skb()", added after the generic free
        state = skbuff.kfree_skb(state, skb_id, ctx, cpu, how)
    return state


def _count_not_stored(state: Draft, a: Any) -> Draft:
    ctx = core.task_of(state, a.sk).defer
    assert ctx is not None
    node_count = core.slot(state, ctx.cpu, ctx.node).defer_count
    state = _count(state, a)
    return core.set_slot(state, ctx.cpu, ctx.node, defer_count=node_count)  # the increment is lost


def _flush_skips_last_node(state: Draft, cpu: int, node: int, rx_sk: int | None, tx_cpu: int | None = None) -> Draft:
    """flush._enter_slot with the loop bound one short under defer-v6: the last node's slot is
    never tested."""
    last = flush.nr_slots(state) - int(state.config.defer == "defer-v6")
    while node < last:
        if core.slot(state, cpu, node).defer_list:
            ctx = FlushCtx(node=node, pc=flush.first_pc(state), rx_sk=rx_sk, tx_cpu=tx_cpu)
            return core.set_cpu(state, cpu, softirq=ctx)
        node += 1
    state = core.set_cpu(state, cpu, softirq=None)
    if rx_sk is not None:
        state = receive.napi_poll_rx(state, rx_sk)
    return flush.napi_consume_tx(state, cpu, tx_cpu) if tx_cpu is not None else state


def _flush_keeps_count(state: Draft, a: Any) -> Draft:
    ctx = state.cpus[a.cpu].softirq
    assert ctx is not None
    slot = core.slot(state, a.cpu, ctx.node)
    if not slot.defer_list:
        return flush._next_slot(state, a.cpu, ctx)
    state = core.set_slot(state, a.cpu, ctx.node, epoch=slot.epoch + 1)  # defer_count left as it is
    return core.set_cpu(state, a.cpu, softirq=core.evolve(ctx, pc="detach"))


def _destruct_keeps_err_queue(state: Draft, a: Any) -> Draft:
    """inet_sock_destruct() that purges only the receive queue (as __tcp_close() does)."""
    sock = state.sockets[a.sk]
    ctx = ("task", a.sk)
    cpu = next(c.id for c in state.cpus if c.online)
    for skb_id in sock.sk_receive_queue:
        state = core.hand(state, skb_id, ctx, ("held", "task", a.sk))
        state = skbuff.kfree_skb(state, skb_id, ctx, cpu, "destruct:rcv_queue")
    state = core.set_sock(state, a.sk, sk_receive_queue=(), destroyed=True)
    return accounting.sk_mem_reclaim_final(state, a.sk, cpu)


def _check_without_zcopy(state: Draft, a: Any) -> Draft:
    """The check step as in v6.18.0, whatever Config.zcopy_check says: the skb is made to look
    like an ordinary one for the check, then its zero-copy buffer is put back."""
    ctx = core.task_of(state, a.sk).defer
    assert ctx is not None
    skb = state.skbs[ctx.skb]
    if not skb.zcopy:
        return _check(state, a)
    state.skbs[ctx.skb] = core.evolve(skb, zcopy=False)
    state = _check(state, a)
    state.skbs[ctx.skb] = core.evolve(state.skbs[ctx.skb], zcopy=True)
    return state


def _arrival_without_flush(state: Draft, a: Any) -> Draft:
    """The packet is built at once, as if no NAPI poll flushed the defer lists first."""
    return receive.napi_poll_rx(state, a.sk)


_guard_offline = hotplug.guard_cpu_offline


def _guard_offline_any_time(state: Any, a: Any) -> str | None:
    """CpuOffline that ignores the preemption model (only the softirq rule of stop_machine())."""
    reason = _guard_offline(state, a)
    if reason is not None and "preempt=" in reason:
        return None
    return reason


def _dev_cpu_dead_without_flush(state: Draft, a: Any) -> Draft:
    return core.set_cpu(state, a.cpu, dead_pending=False)


def _check_online_of_self(state: Draft, a: Any) -> Draft:
    """The online test asks about the freeing CPU instead of the skb's owner."""
    task = core.task_of(state, a.sk)
    ctx = task.defer
    assert ctx is not None
    owner = state.skbs[ctx.skb].alloc_cpu
    if owner >= len(state.cpus) or state.cpus[owner].online or owner == task.cpu or state.skbs[ctx.skb].zcopy:
        return _check(state, a)
    real = state.cpus[owner]
    state.cpus[owner] = core.evolve(real, online=state.cpus[task.cpu].online)
    state = _check(state, a)
    state.cpus[owner] = core.evolve(state.cpus[owner], online=real.online)
    return state


def _kick_step_lost(state: Draft, a: Any) -> Draft:
    return core.set_task(state, a.sk, defer=None)  # the attempt ends without kicking


_eat = close.tcp_eat_recv_skb


def _eat_keeping_sk(state: Draft, sk: int, skb_id: int) -> Draft:
    state = _eat(state, sk, skb_id)
    if state.skbs[skb_id].destructor is None and core.task_of(state, sk).defer is not None:
        state = core.touch(state, skb_id, ("task", sk), sk=sk)  # destructor cleared, sk left set
    return state


_offline = hotplug.apply_cpu_offline


def _offline_keeping_ipi(state: Draft, a: Any) -> Draft:
    queued = state.cpus[a.cpu].ipi_queued
    state = core.set_cpu(state, a.cpu, ipi_queued=0)  # smpcfd_dying_cpu() forgotten: the call stays queued
    state = _offline(state, a)
    return core.set_cpu(state, a.cpu, ipi_queued=queued)


MUTANTS.update(
    {
        m.name: m
        for m in (
            Mutant("fold_drops_pages", "folding the per-CPU page cache drops it instead of moving it",
                   ("page_conservation",), ((core, "per_cpu_fw_alloc_add", _fold_drops_pages),)),
            Mutant("decide_before_purge_done", "the close decision may run before the queue is empty",
                   ("rmem_zero_after_purge",), ((close, "guard_close_decide", _guard_decide_early),)),
            Mutant("flush_frees_fclones_twice", "the flush frees an fclone into the cache and again to the slab",
                   ("freed_at_most_once",), ((skbuff, "napi_consume_skb", _napi_consume_fclone_twice),)),
            Mutant("count_increment_lost", "the count step computes c but does not store it",
                   ("slot_epoch_bound",), ((defer, "apply_defer_count", _count_not_stored),),
                   Focus(defer="defer-v6", defer_max=4, rx_cpu=0)),
            Mutant("online_check_wrong_cpu", "the online test asks about the freeing CPU, not the owner",
                   ("no_push_to_offline_cpu",), ((defer, "apply_defer_check", _check_online_of_self),), HOTPLUG),
            Mutant("v2_kick_at_or_above_half", "defer-v2 kicks whenever the count before is at least max/2",
                   ("one_kick_per_slot_epoch",), ((rules, "defer_v2_kick", lambda b, m: b >= m >> 1),),
                   Focus(defer="defer-v2", rx_cpu=0, defer_max=4)),
            Mutant("kick_step_lost", "the kick step ends the attempt without calling kick_defer_list_purge()",
                   ("kicks_match_crossings",), ((defer, "apply_defer_kick", _kick_step_lost),)),
            Mutant("eat_keeps_sk", "tcp_eat_recv_skb() clears the destructor but leaves skb->sk set",
                   ("deferred_skb_holds_no_refs",), ((close, "tcp_eat_recv_skb", _eat_keeping_sk),),
                   Focus(close_path="close-new")),
            Mutant("offline_keeps_queued_ipi", "CPU offline leaves a queued defer IPI pending",
                   ("offline_cpu_has_no_queued_ipi",), ((hotplug, "apply_cpu_offline", _offline_keeping_ipi),),
                   Focus(machine="2cpu-1node", rx_cpu=0, close_cpus=(1,), hotplug=True, defer_max=3, aimed=True)),
            Mutant("flush_skips_last_node", "the flush visits every node slot but the last",
                   ("deferred_skbs_freed_or_allowed",), ((flush, "_enter_slot", _flush_skips_last_node),),
                   Focus(defer="defer-v6", machine="2cpu-2node")),
            Mutant("destruct_keeps_err_queue", "inet_sock_destruct() purges only the receive queue",
                   ("rmem_zero_at_destruction",), ((close, "apply_sock_destruct", _destruct_keeps_err_queue),),
                   Focus(errqueue=True)),
            Mutant("no_zcopy_check", "skb_attempt_defer_free() forgets the zero-copy test of 0943404b1f3b",
                   ("deferred_skb_holds_no_refs",), ((defer, "apply_defer_check", _check_without_zcopy),)),
            Mutant("arrival_skips_flush", "a received packet is built before its NET_RX run flushes",
                   ("arrival_flushes_first",), ((receive, "apply_packet_arrives", _arrival_without_flush),),
                   Focus(rx_cpu=0)),
            # The historical fixes' fields (Config.idle_run_flushes, rmem_atomic): an edit of the
            # fixed behaviour, or of the pre-fix step, that the invariants catch on their own.
            Mutant("idle_run_skips_flush", "a NET_RX run with no packet to poll (the IPI's) returns without "
                   "flushing, as before f3412b3879b4", ("kick_leads_to_flush",),
                   ((flush, "apply_softirq_start", _softirq_start_without_flush),)),
            Mutant("rfree_write_keeps_truesize", "tcp_sock_rfree()'s plain update writes back the value it read "
                   "without taking the truesize off", ("rmem_matches_charged",),
                   ((close, "rfree_write", _rfree_write_without_sub),), Focus(kernel="before-f278b6d5bb46")),
        )
    }
)  # fmt: skip

# Mutants shown on a fixed run rather than by a machine: their invariant is reachable only in
# configurations where a known finding violates it too (properties/findings.py), so a machine
# could not tell the mutant from the finding. tests/test_mutants.py runs them on a workload
# where the unmodified spec keeps the promise.
TRACE_MUTANTS: dict[str, Mutant] = {
    # Its window (a CPU going down while a task is inside skb_attempt_defer_free()) is one a
    # random machine reaches about once in 600 offline events; the explorer finds it on
    # small(..., preempt="voluntary") and a fixed run shows it (tests/test_explorer.py,
    # tests/test_mutants.py).
    "offline_ignores_preempt": Mutant(
        "offline_ignores_preempt", "a CPU goes offline while a non-preemptible task is inside "
        "skb_attempt_defer_free()", ("dead_cpu_slots_emptied",),
        ((hotplug, "guard_cpu_offline", _guard_offline_any_time),),
        Focus(hotplug=True, hotplug_flush=True, preempt="voluntary"),
    ),
    "hotplug_flush_skipped": Mutant(
        "hotplug_flush_skipped", "dev_cpu_dead() ignores the hotplug flush", ("dead_cpu_slots_emptied",),
        ((hotplug, "apply_dev_cpu_dead", _dev_cpu_dead_without_flush),), Focus(hotplug=True, hotplug_flush=True),
    ),
    # Without the IPI guard two producers can queue the descriptor twice on the unmodified spec
    # (the bug of 97e719a82b43), so a machine drawing that kernel cannot tell this edit from the
    # bug: a single producer's two kicks show it (tests/test_mutants.py, tests/test_explorer.py).
    "csd_lock_untested": Mutant(
        "csd_lock_untested", "without the guard, the kick queues the IPI descriptor without testing its lock "
        "flag", ("at_most_one_ipi_in_flight",), ((defer, "csd_locked", lambda state, cpu: False),),
    ),
    # Before c09b0cd2cc6c the v2 kick compares the count after the increment; the unmodified
    # spec of that kernel breaks kick_at_half_capacity (its bug), so a machine drawing it cannot
    # be the judge: the explorer shows this edit on a fixed configuration (tests/test_explorer.py).
    "v2_kick_after_at_or_above": Mutant(
        "v2_kick_after_at_or_above", "before c09b0cd2cc6c, every push at or above the kick point kicks",
        ("one_kick_per_slot_epoch",), ((rules, "defer_v2_kick_after", lambda c, m: c >= m >> 1),),
    ),
    "flush_keeps_count": Mutant(
        "flush_keeps_count", "the flush detaches the list but never resets defer_count", ("no_wedged_slot",),
        ((flush, "apply_flush_reset", _flush_keeps_count),),
    ),
}  # fmt: skip

ALL_MUTANTS: dict[str, Mutant] = {**MUTANTS, **TRACE_MUTANTS}


def hunt(name: str, invariant: str, *, shrink: bool, max_examples: int = 2000) -> Exception | None:
    """Run a state machine on mutant ``name`` with only ``invariant`` checked, under the current
    settings profile but always derandomized (a catalogue check must not depend on luck); the
    InvariantViolation it raises (shrunk if ``shrink``), or None if the mutant survives
    ``max_examples`` examples."""
    from hypothesis import Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    from properties.machines import InvariantViolation, machine

    mutant = ALL_MUTANTS[name]
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    hunted = machine(f"Mutant_{name}", mutant.focus, only=frozenset({invariant}))
    budget = settings(
        settings(), max_examples=max_examples, phases=phases, print_blob=False, derandomize=True, database=None
    )
    with mutant.applied():
        try:
            run_state_machine_as_test(hunted, settings=budget)
        except InvariantViolation as found:
            return found
    return None
