"""The kernel's promises (FACTS §12) as named, pure predicates.

Three kinds: state invariants (must hold in every reachable state), transition invariants (over
one step: pre-state, action, post-state), and quiescence invariants (liveness, checked when no
task, IPI or softirq has anything left to do under fair scheduling). Each returns ``None`` when
it holds and a one-line description of the violation otherwise.

Independence: these predicates never call the spec's rule functions (spec/rules.py) or its
mechanisms. They recompute what they need from first principles (our own wrap-around comparison,
our own page arithmetic) or read ghost history the spec records (``Skb.deferred``, ``frees``,
``stray_touches``, ``Cpu.kick_unserved``), so that a wrong rule in the spec cannot make its own
check agree with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import attrs

from spec import (
    Action,
    CloseDecide,
    DeferCheck,
    DeferCount,
    DeferCtx,
    DeferKick,
    DeferPush,
    DeferRead,
    DevCpuDead,
    FlushFree,
    FreeEvent,
    NapiConsumeSkb,
    PacketArrives,
    Sock,
    SockDestruct,
    State,
)

StateCheck = Callable[[State], str | None]
TransitionCheck = Callable[[State, Action, State], str | None]


# The user's five promises (issue 3), in the user's words; each names the invariants that state it.
PROMISES: dict[str, str] = {
    "rmem": "rmem returns to zero",
    "free": "no skb is freed twice",
    "fallback": "a full queue falls back to nodefer",
    "offline": "an offline CPU is never deferred to",
    "kick": "exactly one kick per half-capacity crossing",
}


@attrs.frozen
class Invariant:
    name: str
    concern: str
    kind: str  # "state" | "transition" | "quiescent"
    doc: str
    check: Callable[..., str | None]
    promise: str | None = None  # a key of PROMISES when this invariant states one of the user's promises


REGISTRY: dict[str, Invariant] = {}
Deco = Callable[[Callable[..., str | None]], Callable[..., str | None]]


def _register(concern: str, kind: str, promise: str | None) -> Deco:
    def deco(fn: Callable[..., str | None]) -> Callable[..., str | None]:
        REGISTRY[fn.__name__] = Invariant(fn.__name__, concern, kind, (fn.__doc__ or "").strip(), fn, promise)
        return fn

    return deco


def state_invariant(concern: str, promise: str | None = None) -> Deco:
    return _register(concern, "state", promise)


def transition_invariant(concern: str, promise: str | None = None) -> Deco:
    return _register(concern, "transition", promise)


def quiescent_invariant(concern: str, promise: str | None = None) -> Deco:
    return _register(concern, "quiescent", promise)


def _attempt_step(pre: State, a: Action) -> tuple[str, DeferCtx, int, tuple[str, int]] | None:
    """If ``a`` is a step of a skb_attempt_defer_free() (a task's DeferCheck..DeferKick, or the
    NapiConsumeSkb of a NAPI poll's TX completion): its step name, the attempt's locals before
    it, the CPU that runs it, and who runs it."""
    if isinstance(a, DeferCheck | DeferRead | DeferCount | DeferPush | DeferKick):
        task = pre.sockets[a.sk].owner
        if task is None or task.defer is None:
            return None
        return task.defer.pc, task.defer, task.cpu, ("task", a.sk)
    if isinstance(a, NapiConsumeSkb):
        flush = pre.cpus[a.cpu].softirq
        if flush is None or flush.defer is None:
            return None
        return flush.defer.pc, flush.defer, a.cpu, ("softirq", a.cpu)
    return None


def _attempt_after(post: State, who: tuple[str, int]) -> DeferCtx | None:
    kind, ident = who
    if kind == "task":
        task = post.sockets[ident].owner
        return task.defer if task is not None else None
    flush = post.cpus[ident].softirq
    return flush.defer if flush is not None else None


def _later(a: int, b: int) -> bool:
    """Our own TCP sequence comparison: ``a`` is 1 to 2**31 bytes beyond ``b``, mod 2**32 (the
    kernel's signed 32-bit difference counts exactly 2**31 as later)."""
    return 0 < (a - b) % (1 << 32) <= (1 << 31)


# ================================================================================================
# Socket accounting
# ================================================================================================


def _uncharging(sock: Sock) -> tuple[int, ...]:
    """The skb a task has unlinked and not yet uncharged (a plain update of sk_rmem_alloc between
    its read and its write, before f278b6d5bb46); () otherwise."""
    return () if sock.owner is None or sock.owner.rfree is None else (sock.owner.rfree[0],)


@state_invariant("accounting")
def rmem_matches_charged(s: State) -> str | None:
    """sk_rmem_alloc equals the truesize sum of the skbs charged to the socket: those on its
    receive or error queue, and one a task has unlinked but not yet uncharged (a plain update's
    read done, its write not; otherwise the unlink and the uncharge are one step of the spec)."""
    for sock in s.sockets:
        pending = sum(s.skbs[i].truesize for i in _uncharging(sock))
        charged = pending + sum(
            skb.truesize for skb in s.skbs if skb.where in (("rcv_queue", sock.id), ("err_queue", sock.id))
        )
        if sock.sk_rmem_alloc != charged:
            return f"socket {sock.id}: sk_rmem_alloc {sock.sk_rmem_alloc} != {charged} charged"
    return None


@state_invariant("accounting")
def forward_alloc_nonnegative(s: State) -> str | None:
    """sk_forward_alloc never goes below 0: a charge reserves pages first."""
    for sock in s.sockets:
        if sock.sk_forward_alloc < 0:
            return f"socket {sock.id}: sk_forward_alloc {sock.sk_forward_alloc} < 0"
    return None


@transition_invariant("accounting")
def forward_alloc_bound(pre: State, a: Action, post: State) -> str | None:
    """After every uncharge (sk_rmem_alloc went down), 0 <= sk_forward_alloc - unused reserve
    < PAGE_SIZE: whole pages above the reserve were given back at once (FACTS §3)."""
    page = post.config.page_size
    for before, after in zip(pre.sockets, post.sockets, strict=True):
        if after.sk_rmem_alloc >= before.sk_rmem_alloc:
            continue
        unused = max(0, after.sk_reserved_mem - after.sk_rmem_alloc) if after.sk_reserved_mem else 0
        spare = after.sk_forward_alloc - unused
        if not 0 <= spare < page:
            return f"socket {after.id}: sk_forward_alloc - unused reserve = {spare} after an uncharge"
    return None


@state_invariant("accounting")
def page_conservation(s: State) -> str | None:
    """memory_allocated + sum(per_cpu_fw_alloc) == the pages every socket holds, where a socket
    holds (sk_forward_alloc + truesize of its queued data, and of an skb unlinked with its
    uncharge not yet written) / PAGE_SIZE, a whole number (FACTS §4)."""
    page = s.config.page_size
    held = 0
    for sock in s.sockets:
        data = sum(s.skbs[i].truesize for i in (*sock.sk_receive_queue, *_uncharging(sock)))
        total = sock.sk_forward_alloc + data
        if total % page:
            return f"socket {sock.id} holds {total} bytes, not whole pages"
        held += total // page
    counted = s.memory_allocated + sum(c.per_cpu_fw_alloc for c in s.cpus)
    if counted != held:
        return f"protocol counts {counted} pages, sockets hold {held}"
    return None


@state_invariant("accounting")
def pcpu_within_reserve(s: State) -> str | None:
    """Each per-CPU page cache stays strictly within +-mem_pcpu_rsv (it is folded at the bound)."""
    rsv = s.config.mem_pcpu_rsv
    for c in s.cpus:
        if (rsv == 0 and c.per_cpu_fw_alloc) or (rsv and not -rsv < c.per_cpu_fw_alloc < rsv):
            return f"CPU {c.id}: per_cpu_fw_alloc {c.per_cpu_fw_alloc} outside +-{rsv}"
    return None


@transition_invariant("accounting", promise="rmem")
def rmem_zero_after_purge(pre: State, a: Action, post: State) -> str | None:
    """At the close decision the purge is over: sk_rmem_alloc is 0 (FACTS §5.4, §12)."""
    if isinstance(a, CloseDecide) and post.sockets[a.sk].sk_rmem_alloc != 0:
        return f"socket {a.sk}: sk_rmem_alloc {post.sockets[a.sk].sk_rmem_alloc} at the close decision"
    return None


@transition_invariant("accounting")
def rmem_zero_at_destruction(pre: State, a: Action, post: State) -> str | None:
    """When the socket is destroyed its charges are all given back: sk_rmem_alloc and
    sk_forward_alloc are 0 (inet_sock_destruct() warns otherwise; FACTS §5.4)."""
    if isinstance(a, SockDestruct):
        sock = post.sockets[a.sk]
        if sock.sk_rmem_alloc or sock.sk_forward_alloc:
            rmem, fwd = sock.sk_rmem_alloc, sock.sk_forward_alloc
            return f"socket {a.sk} destroyed with sk_rmem_alloc {rmem}, sk_forward_alloc {fwd}"
    return None


# ================================================================================================
# skb lifecycle
# ================================================================================================


@state_invariant("lifecycle", promise="free")
def freed_at_most_once(s: State) -> str | None:
    """No skb is freed twice."""
    for skb in s.skbs:
        if len(skb.frees) > 1:
            return f"skb {skb.id} freed {len(skb.frees)} times: {list(skb.frees)}"
    return None


@state_invariant("lifecycle")
def no_touch_after_handoff(s: State) -> str | None:
    """No skb is written by a context that had handed it off (or never held it)."""
    for skb in s.skbs:
        if skb.stray_touches:
            return f"skb {skb.id} written by {list(skb.stray_touches)} while at {skb.where}"
    return None


@state_invariant("lifecycle")
def skb_in_exactly_one_place(s: State) -> str | None:
    """Every live skb is in exactly one container, the one its lifecycle names; a freed skb is
    in none."""
    seen: Counter[tuple[int, tuple[object, ...]]] = Counter()
    for sock in s.sockets:
        for i in sock.sk_receive_queue:
            seen[(i, ("rcv_queue", sock.id))] += 1
        for i in sock.sk_error_queue:
            seen[(i, ("err_queue", sock.id))] += 1
        for i in _uncharging(sock):
            seen[(i, ("held", "task", sock.id))] += 1
        ctx = sock.owner.defer if sock.owner is not None else None
        if ctx is not None and ctx.pc not in ("kick", "csd"):  # at the kick step the skb is already handed off
            seen[(ctx.skb, ("held", "task", sock.id))] += 1
    for c in s.cpus:
        ctx = c.softirq.defer if c.softirq is not None else None
        if ctx is not None and ctx.pc not in ("kick", "csd"):  # a TX skb in napi_consume_skb()'s attempt
            seen[(ctx.skb, ("held", "softirq", c.id))] += 1
    for c in s.cpus:
        for node, slot in enumerate(c.defer_slots):
            for i in slot.defer_list:
                seen[(i, ("defer_list", c.id, node))] += 1
        if c.softirq is not None:
            for i in c.softirq.batch:
                seen[(i, ("held", "softirq", c.id))] += 1
    places: Counter[int] = Counter(i for i, _ in seen.elements())
    for skb in s.skbs:
        if skb.where == ("freed",):
            if places[skb.id]:
                return f"skb {skb.id} is freed but still in a container"
        elif places[skb.id] != 1 or seen[(skb.id, skb.where)] != 1:
            found = [w for (i, w) in seen if i == skb.id]
            return f"skb {skb.id} says it is at {skb.where} but is found at {found}"
    return None


# ================================================================================================
# Defer lists
# ================================================================================================


@state_invariant("defer")
def placed_by_the_rules(s: State) -> str | None:
    """An skb sits on slot (cpu, node) only if cpu is the CPU that built it, node is the node of
    the CPU the producer read it on (numa_node_id(), before the increment: FACTS §14), and its
    count was below the max it read (FACTS §7)."""
    for c in s.cpus:
        for node, slot in enumerate(c.defer_slots):
            for i in slot.defer_list:
                skb, rec = s.skbs[i], s.skbs[i].deferred
                if rec is None:
                    return f"skb {i} on slot ({c.id}, {node}) was never pushed by a producer"
                if skb.alloc_cpu != c.id:
                    return f"skb {i} built on CPU {skb.alloc_cpu} sits on CPU {c.id}'s slot"
                if s.config.defer == "defer-v6" and s.cpus[rec.producer_cpu].node != node:
                    return f"skb {i} whose node was read on CPU {rec.producer_cpu} sits on node slot {node}"
                if s.config.defer == "defer-v6" and rec.count >= rec.defer_max:
                    return f"skb {i} pushed with count {rec.count} >= max {rec.defer_max}"
    return None


@state_invariant("defer")
def slot_epoch_bound(s: State) -> str | None:
    """defer-v6: the skbs a slot holds from producers that counted in one epoch have distinct
    counts, so at most max - 1 of them; producers in flight across a reset add to the list but
    belong to the earlier epoch (FACTS §9)."""
    if s.config.defer != "defer-v6":
        return None
    for c in s.cpus:
        for node, slot in enumerate(c.defer_slots):
            by_epoch: dict[int, list[tuple[int, int]]] = {}
            for i in slot.defer_list:
                rec = s.skbs[i].deferred
                if rec is not None:
                    by_epoch.setdefault(rec.epoch, []).append((rec.count, rec.defer_max))
            for epoch, pushed in by_epoch.items():
                counts = [count for count, _ in pushed]
                limit = max(dmax for _, dmax in pushed)
                if len(set(counts)) != len(counts) or len(counts) > max(0, limit - 1):
                    return f"slot ({c.id}, {node}) holds counts {sorted(counts)} of epoch {epoch}"
    return None


@state_invariant("defer")
def v2_count_matches_list(s: State) -> str | None:
    """defer-v2: the list and its count change together under the lock: count == length."""
    if s.config.defer != "defer-v2":
        return None
    for c in s.cpus:
        slot = c.defer_slots[0]
        if slot.defer_count != len(slot.defer_list):
            return f"CPU {c.id}: defer_count {slot.defer_count} but {len(slot.defer_list)} queued"
    return None


@transition_invariant("defer", promise="fallback")
def full_slot_falls_back(pre: State, a: Action, post: State) -> str | None:
    """An attempt whose count reached the skb_defer_max it read frees the skb at once on its own
    CPU (nodefer) and adds nothing to the slot; one below the max goes on to push (FACTS §7.5).
    The slot is the one of the node of the CPU the attempt made its reads on, the max the one it
    read (FACTS §14: both are read once, before the increment)."""
    found = _attempt_step(pre, a)
    if found is None:
        return None
    pc, ctx, here, _ = found
    if pc == "count" and pre.config.defer == "defer-v6":
        read_max = ctx.defer_max
        node = pre.cpus[ctx.read_on].node
        # The count this increment reaches (or, with fix-F5-increment-below-max's cmpxchg, would reach).
        before = pre.cpus[ctx.cpu].defer_slots[node].defer_count
        count = before + 1
        skb = post.skbs[ctx.skb]
        full = count >= read_max
        added = post.cpus[ctx.cpu].defer_slots[node].defer_count - before
        if added != (0 if full and pre.config.defer_count_below_max else 1):
            return f"slot ({ctx.cpu}, {node}) went from count {before} by {added} at the attempt's increment"
        lists = [[sl.defer_list for sl in st.cpus[ctx.cpu].defer_slots] for st in (pre, post)]
        if full and (skb.frees != (FreeEvent(here, "nodefer:full"),) or lists[0] != lists[1]):
            return f"count {count} >= max {read_max} but skb {skb.id} was not freed locally"
        if not full and skb.frees:
            return f"count {count} < max {read_max} but skb {skb.id} was freed"
    if pc == "read" and pre.config.defer == "defer-v2":
        skb = post.skbs[ctx.skb]
        target = skb.alloc_cpu
        if pre.cpus[target].defer_slots[0].defer_count >= pre.skb_defer_max and not skb.frees:
            return f"defer-v2: CPU {target}'s list is full but skb {skb.id} was not freed"
    return None


@transition_invariant("defer")
def defer_check_sees_online(pre: State, a: Action, post: State) -> str | None:
    """An offline CPU is never deferred to, in the exact sense the kernel gives: an attempt that
    passes the check step saw its target online, in range and not itself (FACTS §7.2). The push
    is a later step: the target may be offline by then (see properties/findings.py)."""
    found = _attempt_step(pre, a)
    if found is None or found[0] != "check":
        return None
    _, ctx, here, _ = found
    skb = post.skbs[ctx.skb]
    if skb.frees:
        return None
    target = skb.alloc_cpu
    if target == here or not pre.cpus[target].online:
        return f"skb {skb.id} passed the check for CPU {target} (running on CPU {here})"
    return None


@transition_invariant("defer", promise="offline")
def no_push_to_offline_cpu(pre: State, a: Action, post: State) -> str | None:
    """An offline CPU is never deferred to: no skb is put on a slot of a CPU that is offline when
    it is put there (the user's promise, at slot level; FACTS §7, §10)."""
    for before, after in zip(pre.skbs, post.skbs, strict=False):
        where = after.where
        if where[0] == "defer_list" and before.where != where and not pre.cpus[int(where[1])].online:
            return f"skb {after.id} pushed onto slot ({where[1]}, {where[2]}) of offline CPU {where[1]}"
    return None


@state_invariant("defer")
def deferred_skb_holds_no_refs(s: State) -> str | None:
    """A deferred skb holds no reference to outside objects: no socket, no destructor, no
    zero-copy buffer, while it is on a slot or in a flush's hands (FACTS §11: it may wait
    indefinitely)."""
    for skb in s.skbs:
        kind = skb.where[0]
        if (kind == "defer_list" or (kind == "held" and skb.where[1] in ("softirq", "hotplug"))) and (
            skb.sk is not None or skb.destructor is not None or skb.zcopy
        ):
            return f"skb {skb.id} at {skb.where} still holds sk={skb.sk} destructor={skb.destructor} zcopy={skb.zcopy}"
    return None


@transition_invariant("defer")
def flush_frees_locally(pre: State, a: Action, post: State) -> str | None:
    """A flush frees skbs on the CPU whose slot held them, which is the CPU that built them."""
    if not isinstance(a, FlushFree):
        return None
    for before, after in zip(pre.skbs, post.skbs, strict=False):  # a FlushFree may build a packet
        for f in after.frees[len(before.frees) :]:
            if f.how == "flush" and (f.cpu != a.cpu or after.alloc_cpu != a.cpu):
                return f"skb {after.id} built on CPU {after.alloc_cpu} flushed on CPU {f.cpu} by CPU {a.cpu}"
    return None


@transition_invariant("defer")
def arrival_flushes_first(pre: State, a: Action, post: State) -> str | None:
    """Every NAPI poll on a CPU comes after a flush of that CPU's slots, including the one that
    delivers a received packet (909876500251, FACTS §14): a packet arriving on a CPU whose slots
    hold skbs is not built in the arrival's step (its NET_RX run flushes first); on empty slots
    it is built there and then."""
    if not isinstance(a, PacketArrives):
        return None
    cpu = pre.sockets[a.sk].rx[0].cpu
    waiting = any(sl.defer_list for sl in pre.cpus[cpu].defer_slots)
    built = len(post.skbs) > len(pre.skbs)
    if waiting and built:
        return f"a packet was built on CPU {cpu} before its NET_RX run flushed the skbs waiting there"
    if not waiting and not built:
        return f"a packet arriving on CPU {cpu}, whose slots are empty, was not built"
    return None


@transition_invariant("defer")
def dev_cpu_dead_empties_slots(pre: State, a: Action, post: State) -> str | None:
    """With the hotplug flush, dev_cpu_dead() leaves every slot of the dead CPU empty and frees
    what was there (FACTS §10)."""
    if not isinstance(a, DevCpuDead) or not pre.config.hotplug_flush:
        return None
    waiting = [i for sl in pre.cpus[a.cpu].defer_slots for i in sl.defer_list]
    if any(sl.defer_list for sl in post.cpus[a.cpu].defer_slots):
        return f"CPU {a.cpu}'s slots are not empty after dev_cpu_dead()"
    if any(len(post.skbs[i].frees) != 1 for i in waiting):
        return f"dev_cpu_dead() did not free every skb of CPU {a.cpu}"
    return None


# ================================================================================================
# Kick and IPI
# ================================================================================================


@transition_invariant("kick")
def kick_at_half_capacity(pre: State, a: Action, post: State) -> str | None:
    """A push is followed by a kick exactly when its count crossed half capacity: v6, count
    max/2 + 1 (so only with max >= 3, as lower counts fall back); v2, the count before the push
    equal to max/2. Fallbacks never kick. With fix-F8 (``Config.kick_once_per_epoch``) one push
    per slot epoch at or above that point kicks: none below it (kicks_match_crossings and
    one_kick_per_slot_epoch check that the epoch has exactly one)."""
    found = _attempt_step(pre, a)
    if found is None or found[0] != "push":
        return None
    _, ctx, _, who = found
    after = _attempt_after(post, who)
    kicks = after is not None and after.pc == "kick"
    before = ctx.count - 1 if pre.config.defer == "defer-v6" else pre.cpus[ctx.cpu].defer_slots[0].defer_count
    if pre.config.kick_once_per_epoch:  # fix-F8: only at or above the point; which one is the
        if kicks and before < ctx.defer_max // 2:  # epoch's is left to kicks_match_crossings
            return f"push with count {ctx.count}, max {ctx.defer_max}: kick taken below the kick point"
        return None
    due = before == ctx.defer_max // 2
    if kicks != due:
        return f"push with count {ctx.count}, max {ctx.defer_max}: kick {'taken' if kicks else 'missed'}"
    return None


@transition_invariant("kick", promise="kick")
def one_kick_per_slot_epoch(pre: State, a: Action, post: State) -> str | None:
    """At most one kick per slot epoch: no producer kicks for a slot epoch that has already had
    its kick (FACTS §12; each count of an epoch is obtained once, so one producer crosses)."""
    for c_pre, c_post in zip(pre.cpus, post.cpus, strict=True):
        if c_pre is c_post:
            continue  # a step shares the records it does not touch
        for node, (before, after) in enumerate(zip(c_pre.defer_slots, c_post.defer_slots, strict=True)):
            for epoch, dmax in after.kicks[len(before.kicks) :]:
                if any(e == epoch for e, _ in before.kicks):
                    return f"slot ({c_post.id}, {node}) kicked a second time in epoch {epoch} (max {dmax})"
    return None


@quiescent_invariant("kick", promise="kick")
def kicks_match_crossings(s: State) -> str | None:
    """Exactly one kick per half-capacity crossing: at quiescence, a slot epoch had a kick iff a
    push of that epoch reached the kick point, count max/2 + 1 for the max it read (v2: the count
    after its own increment; the same arithmetic), and fallbacks never kick (FACTS §7, §12). With
    fix-F8 (``Config.kick_once_per_epoch``) a push past the kick point of the maximum it read
    crosses too: with skb_defer_max written mid-epoch, no count need equal every push's kick
    point, and the fix promises the kick all the same (F10)."""
    crossings: set[tuple[int, int, int]] = set()
    for skb in s.skbs:
        rec = skb.deferred
        if rec is None:
            continue
        point = rec.defer_max // 2 + 1
        if rec.count == point or (s.config.kick_once_per_epoch and rec.count > point):
            crossings.add((skb.alloc_cpu, rec.node, rec.epoch))
    kicked = {(c.id, node, e) for c in s.cpus for node, sl in enumerate(c.defer_slots) for e, _ in sl.kicks}
    if crossings - kicked:
        return f"slot epochs (cpu, node, epoch) crossed the kick point with no kick: {sorted(crossings - kicked)}"
    if kicked - crossings:
        return f"slot epochs (cpu, node, epoch) kicked with no push at the kick point: {sorted(kicked - crossings)}"
    return None


@state_invariant("kick")
def offline_cpu_has_no_queued_ipi(s: State) -> str | None:
    """No defer IPI stays queued to an offline CPU: the dying CPU runs its queued async calls,
    and a call to an offline CPU is refused (-ENXIO) (FACTS §8, §14)."""
    for c in s.cpus:
        if not c.online and c.ipi_queued:
            return f"offline CPU {c.id} has its defer IPI queued"
    return None


@state_invariant("kick")
def at_most_one_ipi_in_flight(s: State) -> str | None:
    """The defer IPI of a CPU is queued at most once at a time (an async call descriptor must not
    be queued again while pending, 97e719a82b43), and, in kernels with that guard, only while
    the guard is set (without it there is no flag to hold: ``Config.ipi_guard``)."""
    for c in s.cpus:
        if c.ipi_queued > 1:
            return f"CPU {c.id}'s defer IPI is queued {c.ipi_queued} times"
        if s.config.ipi_guard and c.ipi_queued and not c.defer_ipi_scheduled:
            return f"CPU {c.id} has an IPI queued with defer_ipi_scheduled clear"
    return None


# ================================================================================================
# The close decision
# ================================================================================================


@transition_invariant("close")
def rst_iff_data_lost(pre: State, a: Action, post: State) -> str | None:
    """At the decision of a close of a connected socket (not reset by the peer, not in repair):
    TCPABORTONCLOSE goes up by exactly one and a RST is sent iff a data byte after copied_seq was
    never read (RFC 2525 §2.17); otherwise no abort is counted, and a FIN is sent unless SO_LINGER
    with time 0 asked for a RST."""
    if not isinstance(a, CloseDecide):
        return None
    before, after = pre.sockets[a.sk], post.sockets[a.sk]
    if before.sk_state in ("CLOSE", "LISTEN") or before.repair:
        return None
    fin_received = before.sk_state == "CLOSE_WAIT"
    data_end = (before.rcv_nxt - int(fin_received)) % (1 << 32)
    lost = _later(data_end, before.copied_seq)
    aborts = after.TCPABORTONCLOSE - before.TCPABORTONCLOSE
    rst = after.rst_sent - before.rst_sent
    fin = after.fin_sent - before.fin_sent
    linger0 = before.sock_linger and before.sk_lingertime == 0
    if lost and (aborts, rst, fin) != (1, 1, 0):
        return f"socket {a.sk}: data lost but abort/RST/FIN = {aborts}/{rst}/{fin}"
    if not lost and aborts:
        return f"socket {a.sk}: no data lost but TCPABORTONCLOSE went up by {aborts}"
    if not lost and not linger0 and (rst, fin) != (0, 1):
        return f"socket {a.sk}: no data lost but RST/FIN = {rst}/{fin}"
    return None


@transition_invariant("close")
def abort_counted_once_per_close(pre: State, a: Action, post: State) -> str | None:
    """TCPABORTONCLOSE changes only at a close decision, by at most one."""
    for before, after in zip(pre.sockets, post.sockets, strict=True):
        delta = after.TCPABORTONCLOSE - before.TCPABORTONCLOSE
        if delta and not (isinstance(a, CloseDecide) and a.sk == after.id and delta == 1):
            return f"socket {after.id}: TCPABORTONCLOSE +{delta} at {a!r}"
    return None


# ================================================================================================
# Liveness, at quiescence
# ================================================================================================


@quiescent_invariant("liveness")
def kick_leads_to_flush(s: State) -> str | None:
    """Under fair scheduling a kick leads to a NET_RX run on the kicked CPU, which flushes what
    was there: no online CPU is left kicked but never flushed (FACTS §12)."""
    for c in s.cpus:
        if c.online and c.kick_unserved:
            return f"CPU {c.id} was kicked but no NET_RX ran (defer_ipi_scheduled={c.defer_ipi_scheduled})"
    return None


@quiescent_invariant("liveness")
def deferred_skbs_freed_or_allowed(s: State) -> str | None:
    """At quiescence every skb handed to the defer path is freed, or waits in a way the kernel
    allows (see ``waiting_reasons``)."""
    for skb_id, reason in waiting_reasons(s).items():
        if reason is None:
            return f"skb {skb_id} waits at {s.skbs[skb_id].where} for no reason the kernel allows"
    return None


@quiescent_invariant("liveness")
def dead_cpu_slots_emptied(s: State) -> str | None:
    """With the hotplug flush, a dead CPU's slots are emptied: at quiescence no offline CPU
    whose dev_cpu_dead() has run holds skbs (FACTS §12)."""
    if not s.config.hotplug_flush:
        return None
    for c in s.cpus:
        if not c.online and not c.dead_pending and any(sl.defer_list for sl in c.defer_slots):
            held = [i for sl in c.defer_slots for i in sl.defer_list]
            return f"offline CPU {c.id} still holds skbs {held} after dev_cpu_dead()"
    return None


@quiescent_invariant("liveness")
def no_wedged_slot(s: State) -> str | None:
    """Deferral to a CPU keeps working: at quiescence no slot of an online CPU has an empty list
    and a defer_count at or above skb_defer_max (when that is 2 or more, i.e. deferral is on).
    Such a slot is wedged: every attempt falls back and still adds to the count, and a flush
    skips an empty list, so nothing ever resets it (FACTS §7, §9)."""
    if s.skb_defer_max < 2:
        return None
    for c in s.cpus:
        for node, slot in enumerate(c.defer_slots):
            if c.online and not slot.defer_list and slot.defer_count >= s.skb_defer_max:
                return (
                    f"slot ({c.id}, {node}) is wedged: empty list, defer_count {slot.defer_count} "
                    f">= skb_defer_max {s.skb_defer_max}"
                )
    return None


def waiting_reasons(s: State) -> dict[int, str | None]:
    """Why each skb still on a defer slot at quiescence is waiting (None: no allowed reason).

    Every NET_RX run on a CPU flushes its slots first: one raised by the defer IPI, one raised by
    unrelated traffic, the one that delivers a packet arriving there and the one that completes a
    TX skb there (909876500251, FACTS §14). At quiescence no packet or TX completion is left to
    come and no NET_RX is pending on an online CPU, so an skb still waiting was pushed after the
    last NET_RX run on its CPU flushed its slot.
    Allowed:
    - on an online CPU with no kick owed, an skb whose producer's count stayed below the kick
      point: no IPI is due, and it waits for the next NET_RX run there, an arriving packet or
      other traffic (FACTS §12; an skb at or above the kick point was pushed before a kick, and
      the flush that kick caused should have taken it). Its count is its place in the slot's
      count: the increment's result, or, on a kernel whose flush subtracts what it detached
      (fix-F11), where the remaining count has it after that flush (``DeferRecord.position``);
    - on an online CPU whose IPI guard is stuck set with no IPI queued (finding F2, reported by
      kick_leads_to_flush), or, without the guard, kicked with no IPI on its way (its IPI failed
      on the CPU offline: F2 on a kernel before 97e719a82b43);
    - on an offline CPU without the hotplug flush (it waits for the CPU to return, 68822bdf76f1);
    - on an offline CPU with the flush, pushed after dev_cpu_dead() by a producer whose online
      check came before the CPU went down (finding F3 in properties/findings.py)."""
    out: dict[int, str | None] = {}
    # Without the guard (before 97e719a82b43) an unserved kick with no IPI on its way is one
    # whose IPI failed on the CPU offline (-ENXIO), as long as every NET_RX run flushes.
    lost_kick = not s.config.ipi_guard and (s.config.flush_before_poll or s.config.idle_run_flushes)
    for c in s.cpus:
        for slot in c.defer_slots:
            for i in slot.defer_list:
                rec = s.skbs[i].deferred
                below = rec is not None and rec.position - 1 < rec.defer_max // 2
                if c.online and not c.kick_unserved and not c.net_rx_pending and below:
                    out[i] = "below the kick point; no NET_RX run on its CPU since (packet, TX completion, IPI)"
                elif c.online and c.defer_ipi_scheduled and not c.ipi_queued and not c.net_rx_pending:
                    out[i] = "kicked, but the IPI guard is stuck set (finding F2)"
                elif c.online and c.kick_unserved and not c.ipi_queued and not c.net_rx_pending and lost_kick:
                    out[i] = "kicked, but the IPI was lost to the CPU offline (finding F2, without the guard)"
                elif not c.online and not s.config.hotplug_flush:
                    out[i] = "its CPU is offline (no hotplug flush)"
                elif not c.online and not c.dead_pending:
                    out[i] = "pushed to an offline CPU after dev_cpu_dead() (finding F3)"
                else:
                    out[i] = None
    return out


# ================================================================================================


def by_kind(kind: str) -> list[Invariant]:
    return [inv for inv in REGISTRY.values() if inv.kind == kind]


Found = tuple[str, str]  # (invariant name, message)


def selected(kind: str, only: frozenset[str] | None) -> list[Invariant]:
    """The invariants of one kind, all of them or those named in ``only``."""
    return [inv for inv in by_kind(kind) if only is None or inv.name in only]


def state_violations(s: State, only: frozenset[str] | None = None) -> list[Found]:
    """Every violated state invariant (all of them, or those in ``only``), as (name, message)."""
    return [(inv.name, msg) for inv in selected("state", only) if (msg := inv.check(s)) is not None]


def transition_violations(pre: State, a: Action, post: State, only: frozenset[str] | None = None) -> list[Found]:
    return [(inv.name, msg) for inv in selected("transition", only) if (msg := inv.check(pre, a, post)) is not None]


def quiescent_violations(s: State, only: frozenset[str] | None = None) -> list[Found]:
    return [(inv.name, msg) for inv in selected("quiescent", only) if (msg := inv.check(s)) is not None]
