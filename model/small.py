"""Small configurations for the exhaustive explorer (properties/explorer.py).

``small()`` builds the attack's shape at a size an exhaustive search can finish: ``sockets``
sockets, each with ``skbs`` unread skbs built on CPU 0 and closed on another CPU, on a machine of
``cpus`` CPUs spread evenly over ``nodes`` NUMA nodes, with optional environment events (CPU
hotplug, one write of ``skb_defer_max``, migrations, unrelated NET_RX). ``SMALL`` names the
configurations the tests and the benchmark use, each with the reason it exists.

Every environment event is bounded by the Env budgets of the state it builds, so every
configuration here has a finite state space.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from model import kernels
from model.scenarios import LENGTH, TRUESIZE, socket
from spec import Config, Env, Incoming, SpecError, State, UserOp, boot
from spec.state import CloseVariant, DeferVariant, Preempt, UnreadTest, V2KickCount


def cpu_nodes(cpus: int, nodes: int) -> tuple[int, ...]:
    """``cpus`` CPUs spread over ``nodes`` nodes in contiguous blocks, lowest node first
    (2/2 -> (0, 1), 3/2 -> (0, 0, 1), 4/2 -> (0, 0, 1, 1): the machines of model/machines.py)."""
    return tuple(i * nodes // cpus for i in range(cpus))


def small(
    *,
    cpus: int = 2,
    nodes: int = 1,
    sockets: int = 1,
    skbs: int = 1,
    defer_max: int = 4,
    hotplug: bool = False,
    sysctl: int | None = None,
    hotplug_flush: bool = False,
    defer: DeferVariant = "defer-v6",
    close_path: CloseVariant = "close-new",
    migrations: int = 0,
    netrx_raises: int = 0,
    isn: int | None = None,
    linger0: bool = False,
    fclone: bool = False,
    bare_fin: bool = False,
    mem_pcpu_rsv: int = 256,
    unread_test: UnreadTest = "end_seq",
    zcopy: bool = False,
    errqueue: bool = False,
    recv: int = 0,
    retransmit_fin: bool = False,
    reserved_pages: int = 0,
    repair: bool = False,
    lingertime: int | None = None,
    sk_state: str = "ESTABLISHED",
    page_size: int = 4096,
    napi_cache: tuple[int, int] = (64, 32),
    rx_cpu: int = 0,
    preempt: Preempt = "full",
    zcopy_check: bool = False,
    page_pool: bool = False,
    recv_first: bool = False,
    tx: tuple[tuple[int, int], ...] = (),
    late_errqueue: bool = False,
    ipi_guard: bool = True,
    v2_kick_count: V2KickCount = "before",
    flush_before_poll: bool = True,
    idle_run_flushes: bool = True,
    rmem_atomic: bool = True,
    kernel: str | None = None,
) -> State:
    """The attack's shape, small: ``sockets`` sockets x ``skbs`` unread skbs built on CPU 0;
    socket k is closed on CPU 1 + k mod (cpus - 1) (on CPU 0 itself on a 1-CPU machine).

    ``hotplug``: one CPU may go offline (and come back); ``sysctl``: skb_defer_max may be written
    once, to that value; ``migrations``/``netrx_raises``: that many scheduler migrations and
    unrelated NET_RX raises; ``isn``: the initial receive sequence number (near 2**32 to wrap);
    ``linger0``: SO_LINGER with time 0; ``fclone``: the skbs are fast clones; ``bare_fin``: a
    FIN without data follows each socket's skbs; ``mem_pcpu_rsv``: the per-CPU page reserve (small values
    make the fold into memory_allocated happen); ``unread_test``: "end_seq" (5f9238530970) or
    "len_sum" (before it); ``zcopy``: the skbs carry a zero-copy buffer, ``zcopy_check``: the
    kernel has 0943404b1f3b; ``errqueue``: an error-queue skb is charged to each socket first;
    ``recv``: the application reads that many bytes before close; ``recv_first``: it reads its
    first skb on the closing CPU, so later arrivals on CPU 0 find that skb deferred there (the
    arrival flush); ``retransmit_fin``: the peer then retransmits the last byte read with a FIN
    (packetdrill tcp_close_no_rst); ``reserved_pages``: SO_RESERVE_MEM; ``repair``: repair mode;
    ``lingertime``: SO_LINGER with that time; ``sk_state``: the socket's state when the workload
    starts (LISTEN and CLOSE take no data); ``page_size``, ``napi_cache`` (size, bulk): kernel
    constants; ``rx_cpu``: the CPU that builds the packets (0 by default, the attack's shape);
    ``preempt``: the preemption model; ``page_pool``: the kernel's page pool kicks the defer
    lists and one release walk runs; ``tx``: TX completions (built on, completed on) that
    napi_consume_skb() defers (e20dfbad8aab, switched on with them); ``late_errqueue``: an
    error-queue skb is charged to each socket after its data, so it can fall inside a recvmsg() or
    close(); ``ipi_guard``, ``v2_kick_count``, ``flush_before_poll``, ``idle_run_flushes``,
    ``rmem_atomic``: Config's fields for the fixes of 2022 and 2025 (False or "after": the
    kernel before the fix). The kernel is v6.18's
    Config with the variants given; ``kernel``: a named kernel of model/kernels.py, whose switches
    replace the variants given (its constants do not: the sizes stay small). Raises SpecError
    with one line naming an impossible parameter."""
    if cpus < 1:
        raise SpecError(f"a machine needs at least one CPU, not {cpus}")
    if not 1 <= nodes <= cpus:
        raise SpecError(f"nodes must be between 1 and the number of CPUs ({cpus}), not {nodes}")
    for name, value in (
        ("sockets", sockets),
        ("skbs", skbs),
        ("defer_max", defer_max),
        ("migrations", migrations),
        ("netrx_raises", netrx_raises),
        ("mem_pcpu_rsv", mem_pcpu_rsv),
    ):
        if value < 0:
            raise SpecError(f"{name} must be >= 0, not {value}")
    if sysctl is not None and sysctl < 0:
        raise SpecError(f"the skb_defer_max written must be >= 0, not {sysctl}")
    if hotplug and cpus < 2:
        raise SpecError("hotplug needs at least two CPUs (the last online CPU cannot go offline)")
    if recv < 0 or reserved_pages < 0 or (lingertime is not None and lingertime < 0):
        raise SpecError("recv, reserved_pages and lingertime must be >= 0")
    if sk_state not in ("ESTABLISHED", "CLOSE_WAIT", "LISTEN", "CLOSE"):
        raise SpecError(f"sk_state must be ESTABLISHED, CLOSE_WAIT, LISTEN or CLOSE, not {sk_state!r}")
    choices: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        ("unread_test", unread_test, ("end_seq", "len_sum")),
        ("defer", defer, ("defer-v6", "defer-v2")),
        ("close_path", close_path, ("close-new", "close-old")),
        ("v2_kick_count", v2_kick_count, ("before", "after")),
    )
    for key, word, allowed in choices:
        if word not in allowed:
            raise SpecError(f"{key} must be one of {', '.join(allowed)}, not {word!r}")
    if not 0 <= rx_cpu < cpus:
        raise SpecError(f"rx_cpu must be a CPU of the machine (0 to {cpus - 1}), not {rx_cpu}")
    if retransmit_fin and not recv:
        raise SpecError("retransmit_fin needs recv > 0 (it retransmits the last byte read)")
    config = Config(
        close_path=close_path,
        unread_test=unread_test,
        defer=defer,
        hotplug_flush=hotplug_flush,
        mem_pcpu_rsv=mem_pcpu_rsv,
        page_size=page_size,
        napi_cache_size=napi_cache[0],
        napi_cache_bulk=napi_cache[1],
        preempt=preempt,
        zcopy_check=zcopy_check,
        page_pool_kick=page_pool,
        napi_consume_defers=bool(tx),
        ipi_guard=ipi_guard,
        v2_kick_count=v2_kick_count,
        flush_before_poll=flush_before_poll,
        idle_run_flushes=idle_run_flushes,
        rmem_atomic=rmem_atomic,
    )
    if kernel is not None:
        config = attrs.evolve(config, **kernels.kernel(kernel).switches())  # type: ignore[arg-type]
    extra: dict[str, object] = {} if isn is None else {"isn": isn}
    if linger0 or lingertime is not None:
        extra.update(sock_linger=True, sk_lingertime=lingertime or 0)
    packets = [Incoming(rx_cpu, length=LENGTH, truesize=TRUESIZE, fclone=fclone, zcopy=zcopy) for _ in range(skbs)]
    if retransmit_fin:
        packets.append(Incoming(rx_cpu, length=1, truesize=768, fin=True, overlap=1))
    if bare_fin:
        packets.append(Incoming(rx_cpu, length=0, truesize=768, fin=True))
    if errqueue:
        packets.insert(0, Incoming(rx_cpu, length=0, truesize=768, errqueue=True))
    if late_errqueue:
        packets.append(Incoming(rx_cpu, length=0, truesize=768, errqueue=True))
    reads = recv or (LENGTH if recv_first else 0)
    socks = []
    for k in range(sockets):
        closer = 1 + k % (cpus - 1) if cpus > 1 else 0
        ops = ([UserOp("recv", closer, reads)] if reads else []) + [UserOp("close", closer)]
        socks.append(
            socket(
                k, packets, ops, state=sk_state, page_size=page_size, reserved_pages=reserved_pages, repair=repair,
                **extra,  # type: ignore[arg-type]
            )
        )  # fmt: skip
    env = Env(
        migrations=migrations,
        netrx_raises=netrx_raises,
        offlines=1 if hotplug else 0,
        defer_max_values=() if sysctl is None else (sysctl,),
        defer_max_writes=0 if sysctl is None else 1,
        page_pool_releases=int(page_pool),
        tx_completions=tx,
    )
    return boot(config, cpu_nodes(cpus, nodes), defer_max, socks, env)


def small_args(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` settings of small()'s parameters (the CLI's ``--set``), each converted to
    the parameter's type: integers, booleans (true/false), ``napi_cache=SIZE/BULK``, words.
    Raises SpecError with one line for an unknown key or a value of the wrong kind."""
    params = inspect.signature(small).parameters
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in params:
            raise SpecError(f"--set takes KEY=VALUE with KEY one of {', '.join(params)}; not {pair!r}")
        default = params[key].default
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out[key] = text.lower() in ("true", "1", "yes")
            elif default == ():  # pairs, e.g. tx=0:1,0:1
                out[key] = tuple((int(a), int(b)) for a, b in (item.split(":") for item in text.split(",")))
            elif isinstance(default, tuple):
                size, bulk = text.split("/")
                out[key] = (int(size), int(bulk))
            elif params[key].annotation == "str | None":  # a name, e.g. kernel=v6.17
                out[key] = text
            elif isinstance(default, int) or default is None:
                out[key] = int(text)
            else:
                out[key] = text
        except ValueError:
            raise SpecError(f"--set {key}: {text!r} is not a {params[key].annotation}") from None
    return out


@attrs.frozen
class Small:
    """A named small configuration: its builder and why it exists."""

    name: str
    reason: str
    build: Callable[..., State]  # small()'s keyword arguments may be added, e.g. kernel="v6.17"


SMALL: dict[str, Small] = {
    s.name: s
    for s in (
        Small(
            "tiny-1",
            "the smallest cross-CPU free, and one unrelated NET_RX that may flush it at any point (pinned count)",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, netrx_raises=1, **kw),
        ),
        Small(
            "tiny-2",
            "two skbs on one slot with skb_defer_max 3: the second push kicks, and the IPI and the flush "
            "race the close (pinned count)",
            lambda **kw: small(cpus=2, nodes=1, skbs=2, defer_max=3, **kw),
        ),
        Small(
            "acceptance",
            "the issue's acceptance size: 2 CPUs on 2 nodes, 3 unread skbs, skb_defer_max 4 (the third push "
            "kicks), one CPU offline with the hotplug flush and one write of skb_defer_max to 2",
            lambda **kw: small(cpus=2, nodes=2, skbs=3, defer_max=4, hotplug=True, sysctl=2, hotplug_flush=True, **kw),
        ),
        Small(
            "arrival-flush",
            "the application reads the first skb on CPU 1 (deferred to CPU 0's slot), then the second packet "
            "arrives on CPU 0: its NET_RX run flushes the slot (reset, detach, free) before the skb is built, "
            "interleaved with the close of what is left (pinned count)",
            lambda **kw: small(cpus=2, nodes=1, skbs=2, recv_first=True, **kw),
        ),
        Small(
            "acceptance-voluntary",
            "the acceptance configuration on a PREEMPT_VOLUNTARY kernel: no CPU goes down while the producer "
            "is inside skb_attempt_defer_free(), so findings F2 and F3 are gone",
            lambda **kw: small(
                cpus=2,
                nodes=2,
                skbs=3,
                defer_max=4,
                hotplug=True,
                sysctl=2,
                hotplug_flush=True,
                preempt="voluntary",
                **kw,
            ),
        ),
        Small(
            "page-pool",
            "one page-pool release walk (v6.18.y) kicking both CPUs while CPU 0 may go offline and one skb is "
            "deferred to it: finding F2 without any producer's kick",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, hotplug=True, page_pool=True, **kw),
        ),
        Small(
            "tx-producer",
            "v6.19's second producer: CPU 1's NAPI poll completes a TX skb built on CPU 0 and defers it "
            "from softirq while CPU 1's close defers an unread skb to the same slot (skb_defer_max 3: the "
            "second push kicks)",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, defer_max=3, tx=((0, 1),), **kw),
        ),
        Small(
            "retransmit-fin",
            "the application reads the one skb, then the peer retransmits its last byte with a FIN "
            "(packetdrill tcp_close_no_rst): the summed unread test before 5f9238530970 sends a RST (F4)",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, recv=1448, retransmit_fin=True, **kw),
        ),
        Small(
            "wedge",
            "three skbs closed with skb_defer_max 0 and one later write of 3: under defer-v6 the fallbacks "
            "count and the empty list is never reset (F5); defer-v2's fallbacks do not count",
            lambda **kw: small(cpus=2, nodes=1, skbs=3, defer_max=0, sysctl=3, **kw),
        ),
        # The bugs fixed in 2022 and 2025 (model/kernels.py HISTORY), on the v5.19 kernels whose
        # close() frees at once: recvmsg() is the producer.
        Small(
            "ipi-race",
            "two sockets read one skb each, on CPUs 1 and 2, with skb_defer_max 1: each push kicks; socket 1's "
            "packet arriving on CPU 0 flushes between the two kicks, so without the IPI guard both find the "
            "descriptor unlocked and queue it twice (97e719a82b43; the test and the queueing run with "
            "preemption off, so the two kickers need two CPUs)",
            lambda **kw: small(cpus=3, nodes=1, sockets=2, skbs=1, defer_max=1, recv=1448, **kw),
        ),
        Small(
            "recv-kick",
            "one skb read on CPU 1 with skb_defer_max 1: recvmsg() defers it to CPU 0 and must kick at once; "
            "the kick never comes before c09b0cd2cc6c, and before f3412b3879b4 the IPI's NET_RX run does not "
            "flush",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, defer_max=1, recv=1448, **kw),
        ),
        Small(
            "errqueue-race",
            "one skb read on CPU 1 while an error-queue skb is charged to the socket: tcp_sock_rfree()'s plain "
            "update before f278b6d5bb46 loses the charge",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, recv=1448, late_errqueue=True, **kw),
        ),
        # Candidate fixes of the findings (issue 12, part 3; model/fixes.py EVIDENCE).
        Small(
            "errqueue",
            "one error-queue skb to be charged and one unread skb: the close may purge before or after the "
            "charge, so the error queue is charged at the decision (F1) unless close() purges it and "
            "sock_queue_err_skb() refuses once close() began",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, errqueue=True, **kw),
        ),
        Small(
            "wedge-race",
            "two sockets of one skb closed on CPU 1 with skb_defer_max 1 and one later write of 2: both attempts "
            "may pass a pre-test at count 0 and each add one, so the count reaches 2 on an empty list (F5)",
            lambda **kw: small(cpus=2, nodes=1, sockets=2, skbs=1, defer_max=1, sysctl=2, **kw),
        ),
        Small(
            "reset-window",
            "two sockets of two skbs closed on CPU 1 with skb_defer_max 2 and one unrelated NET_RX on CPU 0: an "
            "attempt counts inside the flush's reset-to-detach window and the slot wedges (F6)",
            lambda **kw: small(cpus=2, nodes=1, sockets=2, skbs=2, defer_max=2, netrx_raises=1, **kw),
        ),
        Small(
            "sysctl-mid-epoch",
            "three skbs closed with skb_defer_max 3 (kick at count 2) and one write of 4 (kick at count 3) while "
            "the epoch is open: the epoch kicks twice (F8)",
            lambda **kw: small(cpus=2, nodes=1, skbs=3, defer_max=3, sysctl=4, **kw),
        ),
        Small(
            "straggler",
            "six skbs closed with skb_defer_max 6 (kick at count 4): the fifth attempt counts before the kick's "
            "flush resets the count and pushes after it detaches the list (F11)",
            lambda **kw: small(cpus=2, nodes=1, skbs=6, defer_max=6, **kw),
        ),
        Small(
            "sysctl-skip",
            "five skbs closed with skb_defer_max 10 (kick at count 6) and one write of 6 (kick at count 4): pushes "
            "counted 1-4 read 10 and the fifth reads 6, so no push is at its own kick point and none kicks (F10)",
            lambda **kw: small(cpus=2, nodes=1, skbs=5, defer_max=10, sysctl=6, **kw),
        ),
        Small(
            "larger-skbs",
            "the acceptance configuration with two more unread skbs (5, skb_defer_max 4: fallbacks too)",
            lambda **kw: small(cpus=2, nodes=2, skbs=5, defer_max=4, hotplug=True, sysctl=2, hotplug_flush=True, **kw),
        ),
        Small(
            "larger-cpus",
            "the acceptance configuration on 4 CPUs over 2 nodes (closed on CPU 1, any of three may go offline)",
            lambda **kw: small(cpus=4, nodes=2, skbs=3, defer_max=4, hotplug=True, sysctl=2, hotplug_flush=True, **kw),
        ),
        Small(
            "larger-env",
            "the acceptance configuration with every other environment event: an error-queue skb, one "
            "page-pool release walk and one unrelated NET_RX (about 284,000 states on v7.3+fixes, 45 s)",
            lambda **kw: small(
                cpus=2,
                nodes=2,
                skbs=3,
                defer_max=4,
                hotplug=True,
                sysctl=2,
                hotplug_flush=True,
                errqueue=True,
                page_pool=True,
                netrx_raises=1,
                **kw,
            ),
        ),
        Small(
            "zcopy",
            "one zero-copy skb on a kernel without 0943404b1f3b (v6.18.0): finding F9",
            lambda **kw: small(cpus=2, nodes=1, skbs=1, zcopy=True, **kw),
        ),
    )
}


@attrs.frozen
class MutantConfig:
    """The smallest configuration we know that exposes a mutant of properties/mutants.py (its
    Focus made concrete and shrunk): ``small(skbs=skbs, **kwargs)``, and why. The mutant tests
    check that one skb fewer does not expose it."""

    kwargs: Mapping[str, Any]
    skbs: int
    reason: str

    def build(self, skbs: int | None = None) -> State:
        return small(skbs=self.skbs if skbs is None else skbs, **self.kwargs)


def _m(skbs: int, reason: str, **kwargs: Any) -> MutantConfig:
    return MutantConfig(kwargs, skbs, reason)


# Keyed by mutant name (properties/mutants.py; model/ does not import properties/).
FOR_MUTANT: dict[str, MutantConfig] = {
    "fallback_strict": _m(1, "max 1: the first count is already full; the mutant pushes", defer_max=1),
    "kick_at_half": _m(1, "max 2: the mutant kicks at count 1 (the spec's kick, at 2, falls back)", defer_max=2),
    "v2_kick_after_increment": _m(1, "max 2: the mutant kicks on the first push", defer="defer-v2", defer_max=2),
    "v2_precheck_strict": _m(1, "max 0: the empty list's count 0 is already full", defer="defer-v2", defer_max=0),
    "reclaim_strict": _m(1, "the first uncharge leaves exactly a page above the reserve"),
    "pcpu_fold_strict": _m(1, "a per-CPU reserve of one page, reached by the first charge", mem_pcpu_rsv=1),
    "unread_counts_fin": _m(0, "a lone FIN left unread: the mutant counts it as data", bare_fin=True),
    "after_without_wrap": _m(1, "one segment crossing 2**32: its end_seq wraps below copied_seq", isn=(1 << 32) - 1000),
    "schedule_rounds_down": _m(1, "the first charge needs a partial page"),
    "eat_skips_uncharge": _m(1, "the first skb eaten"),
    "eat_keeps_destructor": _m(1, "the flush frees the skb and runs its destructor again", netrx_raises=1),
    "clear_after_push": _m(1, "the first push"),
    "kick_without_guard": _m(
        4, "max 3 kicks at count 2; an unrelated NET_RX resets the count, so a second kick comes before the "
        "first IPI is delivered", defer_max=3, netrx_raises=1,
    ),
    "ipi_keeps_guard": _m(4, "max 3: the second kick finds the guard the first IPI left set", defer_max=3),
    "no_online_check": _m(1, "CPU 0 goes offline before the check", hotplug=True),
    "no_same_cpu_check": _m(1, "one CPU: the skb is freed where it was built", cpus=1),
    "slot_of_freeing_cpu": _m(1, "the first push"),
    "slot_of_owner_node": _m(1, "two nodes: the owner's node slot differs from the freeing CPU's", nodes=2),
    "flush_frees_elsewhere": _m(1, "a flush needs NET_RX: one unrelated raise", netrx_raises=1),
    "flush_forgets_batch": _m(1, "a flush needs NET_RX: one unrelated raise", netrx_raises=1),
    "v2_detach_keeps_count": _m(1, "a defer-v2 flush", defer="defer-v2", netrx_raises=1),
    "close_old_skips_destructor": _m(1, "the first skb freed by close-old", close_path="close-old"),
    "linger_before_unread": _m(1, "SO_LINGER 0 with an unread skb", linger0=True),
    "abort_per_unread_skb": _m(1, "one unread skb, then the decision"),
    "uncharge_without_reclaim": _m(1, "the first uncharge"),
    "hotplug_flush_leaks": _m(1, "a deferred skb, then CPU 0 goes down", hotplug=True, hotplug_flush=True),
    "fold_drops_pages": _m(1, "a per-CPU reserve of one page, reached by the first charge", mem_pcpu_rsv=1),
    "decide_before_purge_done": _m(1, "one skb still queued at the decision"),
    "flush_frees_fclones_twice": _m(1, "an fclone flushed by an unrelated NET_RX", netrx_raises=1, fclone=True),
    "count_increment_lost": _m(2, "two producers in one epoch read the same count"),
    "online_check_wrong_cpu": _m(1, "CPU 0 goes offline before the check", hotplug=True),
    "v2_kick_at_or_above_half": _m(4, "max 4: the pushes at counts 2 and 3 both kick", defer="defer-v2"),
    "kick_step_lost": _m(2, "max 3: the second push crosses the kick point", defer_max=3),
    "eat_keeps_sk": _m(1, "the first push"),
    "offline_keeps_queued_ipi": _m(2, "max 3: the second push kicks, CPU 0 goes down before the IPI runs",
                                   defer_max=3, hotplug=True),
    "flush_skips_last_node": _m(2, "closed on node 1, max 3: the kick's flush never visits slot (0, 1)",
                                nodes=2, defer_max=3),
    "destruct_keeps_err_queue": _m(0, "an error-queue skb still queued when the socket is destroyed", errqueue=True),
    "no_zcopy_check": _m(1, "one zero-copy skb on a kernel with the test", zcopy=True, zcopy_check=True),
    "arrival_skips_flush": _m(2, "the first skb read and deferred to CPU 0, the second arrives there", recv_first=True),
    "idle_run_skips_flush": _m(2, "max 3: the second push kicks; the IPI's NET_RX run does not flush", defer_max=3),
    "rfree_write_keeps_truesize": _m(1, "one skb read on the kernel with the plain update", recv=1448,
                                     kernel="before-f278b6d5bb46"),
}  # fmt: skip

# Where one of a mutant's invariants needs another configuration than the mutant's.
FOR_MUTANT_INVARIANT: dict[tuple[str, str], MutantConfig] = {
    ("slot_of_owner_node", "full_slot_falls_back"): _m(
        1, "max 1: the mutant counts on node 0's slot and falls back; node 1's slot still says 0", nodes=2, defer_max=1
    ),
}


def for_mutant(name: str, invariant: str) -> MutantConfig:
    """The configuration that exposes mutant ``name`` to ``invariant``."""
    return FOR_MUTANT_INVARIANT.get((name, invariant)) or FOR_MUTANT[name]
