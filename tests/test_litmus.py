"""Litmus tests: explicit action lists driven with ``spec.step``, checked against outcomes worked
out by hand from /work/shared/kernel/FACTS.md. Every expected value is a literal; the comment
beside it derives it. Sequence numbers start at ISN = 1_000_000 unless said otherwise."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pytest

import spec
from model.machines import KERNELS
from model.scenarios import attack, socket
from model.scheduler import run
from spec.actions import (
    Action,
    CloseDecide,
    CloseStart,
    CpuOffline,
    CpuOnline,
    DeferCheck,
    DeferCount,
    DeferKick,
    DeferPush,
    DeferRead,
    DevCpuDead,
    ErrQueueCharge,
    FlushDetach,
    FlushFree,
    FlushReset,
    IpiDeliver,
    PacketArrives,
    PurgeStep,
    RaiseNetRx,
    RecvCopy,
    RecvEnd,
    RecvStart,
    SetDeferMax,
    SockDestruct,
    SoftirqStart,
)
from spec.state import (
    CloseVariant,
    Config,
    DeferVariant,
    Env,
    FreeEvent,
    Incoming,
    Sock,
    State,
    UnreadTest,
    UserOp,
)

ISN = 1_000_000
U32 = 2**32

_DEFER_STEP: dict[str, Callable[[int], Action]] = {
    "check": DeferCheck,
    "read": DeferRead,
    "count": DeferCount,
    "push": DeferPush,
    "kick": DeferKick,
}


def play(state: State, actions: Sequence[Action]) -> State:
    """Apply each action with spec.step (raises spec.NotEnabled on the first disabled one)."""
    for act in actions:
        state = spec.step(state, act)
    return state


def finish_defer(state: State, sk: int) -> tuple[State, list[Action]]:
    """Run socket ``sk``'s task until its skb_attempt_defer_free() is over; return the steps."""
    taken: list[Action] = []
    while (task := state.sockets[sk].owner) is not None and task.defer is not None:
        act = _DEFER_STEP[task.defer.pc](sk)
        state = spec.step(state, act)
        taken.append(act)
    return state, taken


def boot(
    sockets: Sequence[Sock],
    config: Config | None = None,
    cpu_nodes: Sequence[int] = (0, 0),
    defer_max: int = 64,
    env: Env | None = None,
) -> State:
    return spec.boot(config or Config(), cpu_nodes, defer_max, sockets, env)


# -- 1. packetdrill tcp_close_no_rst -------------------------------------------------------------


@pytest.mark.parametrize(
    ("unread_test", "fin_sent", "rst_sent", "aborts", "final_state"),
    [
        # end_seq - FIN = ISN+1000 == copied_seq: not after it -> normal close from CLOSE_WAIT.
        ("end_seq", 1, 0, 0, "LAST_ACK"),
        # len_sum: end_seq - seq - FIN = 1000 != 0 -> spurious RST (the bug 5f9238530970 fixed).
        ("len_sum", 0, 1, 1, "CLOSE"),
    ],
)
def test_close_no_rst_packetdrill(
    unread_test: UnreadTest, fin_sent: int, rst_sent: int, aborts: int, final_state: str
) -> None:
    """Expected: end_seq test -> FIN (fin_sent 1, rst_sent 0, TCPABORTONCLOSE 0, LAST_ACK);
    len_sum test -> RST (rst_sent 1, TCPABORTONCLOSE 1, CLOSE).

    The application reads 1000 bytes; the peer retransmits them with a FIN (whose only new
    sequence number is the FIN); then close()."""
    sock = socket(
        0,
        [
            Incoming(cpu=0, length=1000, truesize=2304),
            Incoming(cpu=0, length=1000, truesize=2304, overlap=1000, fin=True),
        ],
        [UserOp("recv", 0, 1000), UserOp("close", 0)],
    )
    state = boot([sock], Config(unread_test=unread_test))
    state = play(
        state,
        [PacketArrives(0), RecvStart(0), RecvCopy(0), DeferCheck(0), RecvEnd(0), PacketArrives(0)],
    )
    s = state.sockets[0]
    assert s.copied_seq == 1_001_000  # ISN + 1000 read
    assert s.sk_state == "CLOSE_WAIT"  # the FIN arrived in order
    retrans = state.skbs[1]
    assert (retrans.seq, retrans.end_seq) == (1_000_000, 1_001_001)  # ISN .. ISN+1000+FIN
    state = play(state, [CloseStart(0), PurgeStep(0), DeferCheck(0), CloseDecide(0)])
    s = state.sockets[0]
    assert (s.fin_sent, s.rst_sent, s.TCPABORTONCLOSE, s.sk_state) == (
        fin_sent,
        rst_sent,
        aborts,
        final_state,
    )
    assert s.TCPABORTONDATA == 0
    assert s.sk_rmem_alloc == 0  # both skbs uncharged


# -- 2. unread data -> RST, TCPABORTONCLOSE once per close ---------------------------------------


def _close_steps(close_path: CloseVariant, skbs: int) -> list[Action]:
    """close() on the RX CPU: close-new adds one DeferCheck (same CPU -> free now) per skb."""
    per_skb: list[Action] = [PurgeStep(0)] + ([DeferCheck(0)] if close_path == "close-new" else [])
    return [CloseStart(0), *(per_skb * skbs), CloseDecide(0)]


@pytest.mark.parametrize("close_path", ["close-old", "close-new"])
@pytest.mark.parametrize("unread_test", ["end_seq", "len_sum"])
def test_one_unread_byte_with_fin_resets(close_path: CloseVariant, unread_test: UnreadTest) -> None:
    """Expected: RST (rst_sent 1, TCPABORTONCLOSE 1, fin_sent 0), CLOSE_WAIT -> CLOSE.

    One data byte plus FIN: seq ISN, end_seq ISN+2; end_seq - 1 = ISN+1 is after copied_seq ISN;
    the summed length is 1."""
    sock = socket(0, [Incoming(cpu=0, length=1, truesize=768, fin=True)], [UserOp("close", 0)])
    cfg = Config(close_path=close_path, unread_test=unread_test)
    state = play(boot([sock], cfg), [PacketArrives(0)])
    assert state.sockets[0].sk_state == "CLOSE_WAIT"
    state = play(state, _close_steps(close_path, 1))
    s = state.sockets[0]
    assert (s.rst_sent, s.fin_sent, s.TCPABORTONCLOSE, s.TCPABORTONDATA) == (1, 0, 1, 0)
    assert s.sk_state == "CLOSE"
    assert state.skbs[0].frees == (
        (FreeEvent(0, "kfree_skb"),) if close_path == "close-old" else (FreeEvent(0, "nodefer:same_cpu"),)
    )


@pytest.mark.parametrize("close_path", ["close-old", "close-new"])
@pytest.mark.parametrize("unread_test", ["end_seq", "len_sum"])
def test_several_unread_skbs_count_once(close_path: CloseVariant, unread_test: UnreadTest) -> None:
    """Expected: three unread skbs -> exactly one RST and TCPABORTONCLOSE == 1 (the MIB is
    bumped once per close, not per skb), sk_rmem_alloc 0."""
    sock = socket(0, [Incoming(cpu=0, length=100, truesize=768) for _ in range(3)], [UserOp("close", 0)])
    cfg = Config(close_path=close_path, unread_test=unread_test)
    state = play(boot([sock], cfg), [PacketArrives(0)] * 3 + _close_steps(close_path, 3))
    s = state.sockets[0]
    assert (s.rst_sent, s.TCPABORTONCLOSE, s.fin_sent) == (1, 1, 0)
    assert s.sk_state == "CLOSE"
    assert s.sk_rmem_alloc == 0
    assert s.sk_receive_queue == ()


# -- 3. FIN only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unread_test", ["end_seq", "len_sum"])
def test_fin_only_sends_fin(unread_test: UnreadTest) -> None:
    """Expected: FIN sent (fin_sent 1), no RST, TCPABORTONCLOSE 0, CLOSE_WAIT -> LAST_ACK.

    A bare FIN: seq ISN, end_seq ISN+1; end_seq - 1 == copied_seq (not after); summed length 0."""
    sock = socket(0, [Incoming(cpu=0, length=0, truesize=768, fin=True)], [UserOp("close", 0)])
    state = boot([sock], Config(unread_test=unread_test))
    state = play(state, [PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0), CloseDecide(0)])
    s = state.sockets[0]
    assert (s.fin_sent, s.rst_sent, s.TCPABORTONCLOSE) == (1, 0, 0)
    assert s.sk_state == "LAST_ACK"


# -- 4. sequence wrap-around ---------------------------------------------------------------------

WRAP_ISN = U32 - 1000  # 4294966296: a 1448-byte segment ends at 448 after the wrap


def test_wrap_read_all_then_retransmit_with_fin() -> None:
    """Expected: no RST; FIN sent, LAST_ACK (end_seq test).

    ISN = 2**32-1000; 1448 bytes [4294966296, 448) are read (copied_seq 448); the peer
    retransmits them with a FIN: seq 4294966296, end_seq 449; 449 - 1 = 448 is not after 448."""
    sock = socket(
        0,
        [
            Incoming(cpu=0, length=1448, truesize=2304),
            Incoming(cpu=0, length=1448, truesize=2304, overlap=1448, fin=True),
        ],
        [UserOp("recv", 0, 1448), UserOp("close", 0)],
        isn=WRAP_ISN,
    )
    state = play(
        boot([sock]),
        [PacketArrives(0), RecvStart(0), RecvCopy(0), DeferCheck(0), RecvEnd(0), PacketArrives(0)],
    )
    assert state.sockets[0].copied_seq == 448  # 4294966296 + 1448 - 2**32
    assert (state.skbs[1].seq, state.skbs[1].end_seq) == (4294966296, 449)
    state = play(state, [CloseStart(0), PurgeStep(0), DeferCheck(0), CloseDecide(0)])
    s = state.sockets[0]
    assert (s.fin_sent, s.rst_sent, s.TCPABORTONCLOSE, s.sk_state) == (1, 0, 0, "LAST_ACK")


@pytest.mark.parametrize(
    "read",
    [
        0,  # nothing read: end_seq 448 is after copied_seq 4294966296 (a plain > would say no)
        1000,  # read up to the wrap: copied_seq 0, end_seq 448 after it -> 448 bytes unread
        1447,  # one byte left: copied_seq 447, last byte 447 not yet read
    ],
)
def test_wrap_unread_resets(read: int) -> None:
    """Expected: RST (rst_sent 1, TCPABORTONCLOSE 1), ESTABLISHED -> CLOSE, for data that
    crosses 2**32 and is not entirely read."""
    ops = ([UserOp("recv", 0, read)] if read else []) + [UserOp("close", 0)]
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304)], ops, isn=WRAP_ISN)
    state = play(boot([sock]), [PacketArrives(0)])
    assert state.skbs[0].end_seq == 448  # 4294966296 + 1448 - 2**32
    if read:
        state = play(state, [RecvStart(0), RecvCopy(0), RecvEnd(0)])
        assert state.sockets[0].copied_seq == (4294966296 + read) % U32
    state = play(state, [CloseStart(0), PurgeStep(0), DeferCheck(0), CloseDecide(0)])
    s = state.sockets[0]
    assert (s.rst_sent, s.TCPABORTONCLOSE, s.fin_sent, s.sk_state) == (1, 1, 0, "CLOSE")


# -- 5. SO_LINGER with time 0 ---------------------------------------------------------------------


@pytest.mark.parametrize("with_read_data", [False, True])
def test_linger_zero_without_unread_data(with_read_data: bool) -> None:
    """Expected: RST from ESTABLISHED (rst_sent 1), TCPABORTONDATA 1, TCPABORTONCLOSE 0,
    fin_sent 0, state CLOSE; with no data or with data fully read first."""
    packets = [Incoming(cpu=0, length=100, truesize=768)] if with_read_data else []
    ops = ([UserOp("recv", 0, 100)] if with_read_data else []) + [UserOp("close", 0)]
    sock = socket(0, packets, ops, sock_linger=True, sk_lingertime=0)
    pre: list[Action] = (
        [PacketArrives(0), RecvStart(0), RecvCopy(0), DeferCheck(0), RecvEnd(0)] if with_read_data else []
    )
    state = play(boot([sock]), [*pre, CloseStart(0), CloseDecide(0)])
    s = state.sockets[0]
    assert (s.rst_sent, s.TCPABORTONDATA, s.TCPABORTONCLOSE, s.fin_sent) == (1, 1, 0, 0)
    assert s.sk_state == "CLOSE"


# -- 6. N sequential producers to one slot --------------------------------------------------------

# (variant, max, N, pushed, fallbacks, kick on skb #, final defer_count), derived from FACTS §7:
PRODUCERS = [
    # v6: the i-th attempt sees c = i; pushed iff i < max (so min(N, max-1)); count = N;
    # kick iff pushed and i - 1 == max >> 1.
    ("defer-v6", 0, 6, 0, 6, None, 6),  # c=1 >= 0: every one falls back
    ("defer-v6", 1, 7, 0, 7, None, 7),  # c=1 >= 1
    ("defer-v6", 2, 8, 1, 7, None, 8),  # c=1 pushed; kick needs c=2, which falls back
    ("defer-v6", 3, 9, 2, 7, 2, 9),  # c=1,2 pushed; 2-1 == 3>>1 -> kick on the 2nd
    ("defer-v6", 64, 70, 63, 7, 33, 70),  # 63 pushed, 7 fall back, 33-1 == 32
    ("defer-v6", 128, 134, 127, 7, 65, 134),  # 127 pushed, 65-1 == 64
    # v2: pushed iff count (= pushes so far) < max, so min(N, max); fallbacks do not count;
    # kick when the count before the push == max >> 1, i.e. on push number (max >> 1) + 1.
    ("defer-v2", 0, 6, 0, 6, None, 0),  # 0 >= 0: all fall back
    ("defer-v2", 1, 7, 1, 6, 1, 1),  # defers one and kicks at once (0 == 1>>1)
    ("defer-v2", 2, 8, 2, 6, 2, 2),  # 1 == 2>>1 on the 2nd
    ("defer-v2", 3, 9, 3, 6, 2, 3),  # 1 == 3>>1 on the 2nd
    ("defer-v2", 64, 70, 64, 6, 33, 64),  # 32 == 64>>1 on the 33rd
    ("defer-v2", 128, 134, 128, 6, 65, 128),  # 64 == 128>>1 on the 65th
]


@pytest.mark.parametrize(
    ("variant", "defer_max", "n", "pushed", "fallbacks", "kick_on", "count"),
    PRODUCERS,
    ids=[f"{p[0]}-max{p[1]}-n{p[2]}" for p in PRODUCERS],
)
def test_sequential_producers_one_slot(
    variant: DeferVariant,
    defer_max: int,
    n: int,
    pushed: int,
    fallbacks: int,
    kick_on: int | None,
    count: int,
) -> None:
    """Expected: see PRODUCERS: pushes onto CPU 0's slot, frees "nodefer:full" on CPU 1, the
    skb (1-based) whose attempt kicked CPU 0, and the final defer_count. No IPI is delivered and
    no softirq runs: only the closing task acts."""
    sock = socket(0, [Incoming(cpu=0, length=100, truesize=768) for _ in range(n)], [UserOp("close", 1)])
    state = boot([sock], Config(defer=variant), defer_max=defer_max)
    state = play(state, [PacketArrives(0)] * n + [CloseStart(0)])
    kicks: list[int] = []
    for i in range(1, n + 1):
        state = spec.step(state, PurgeStep(0))
        state, taken = finish_defer(state, 0)
        if DeferKick(0) in taken:
            kicks.append(i)
    state = spec.step(state, CloseDecide(0))

    slot = state.cpus[0].defer_slots[0]
    assert len(slot.defer_list) == pushed
    # The pushed ones are the first skbs, newest first on the list.
    assert slot.defer_list == tuple(range(pushed - 1, -1, -1))
    full = [skb.id for skb in state.skbs if skb.frees == (FreeEvent(1, "nodefer:full"),)]
    assert len(full) == fallbacks
    assert all(len(skb.frees) <= 1 for skb in state.skbs)
    assert kicks == ([] if kick_on is None else [kick_on])
    assert state.cpus[0].defer_ipi_scheduled is (kick_on is not None)
    assert state.cpus[0].ipi_queued == (1 if kick_on is not None else 0)
    assert slot.defer_count == count
    assert state.sockets[0].sk_rmem_alloc == 0


# -- 7. the reset window of the flush (FACTS §9) ---------------------------------------------------


def _two_closers() -> State:
    """Two sockets with one skb each built on CPU 0; socket 0 closes on CPU 1, socket 1 on CPU 2
    (3 CPUs, one node, defer-v6, max 64); one unrelated NET_RX allowed."""
    socks = [socket(i, [Incoming(cpu=0, length=100, truesize=768)], [UserOp("close", i + 1)]) for i in range(2)]
    state = boot(socks, Config(defer="defer-v6"), (0, 0, 0), 64, Env(netrx_raises=1))
    return play(state, [PacketArrives(0), PacketArrives(1)])


def test_reset_window_over_estimate() -> None:
    """Expected: socket 1's skb, counted after the flush's reset and pushed before its detach,
    is freed by that flush on CPU 0; defer_count stays 1 with an empty list (over-estimate)."""
    state = play(
        _two_closers(),
        [
            CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0),  # count 1, [0]
            RaiseNetRx(0), SoftirqStart(0), FlushReset(0),  # count 0, list still [0]
            CloseStart(1), PurgeStep(1), DeferCheck(1), DeferRead(1), DeferCount(1), DeferPush(1),  # count 1, [1, 0]
            FlushDetach(0), FlushFree(0),  # both detached and freed
            CloseDecide(0), CloseDecide(1),
        ],
    )  # fmt: skip
    slot = state.cpus[0].defer_slots[0]
    assert slot.defer_list == ()
    assert slot.defer_count == 1  # socket 1's increment survives the reset
    assert slot.epoch == 1
    assert state.skbs[0].frees == (FreeEvent(0, "flush"),)
    assert state.skbs[1].frees == (FreeEvent(0, "flush"),)
    assert state.cpus[0].softirq is None


def test_reset_window_under_estimate() -> None:
    """Expected: socket 1's skb, counted (c=2) before the reset and pushed after the detach,
    sits on the list with defer_count 0 (under-estimate); socket 0's skb was flushed."""
    state = play(
        _two_closers(),
        [
            CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0),  # count 1, [0]
            CloseStart(1), PurgeStep(1), DeferCheck(1), DeferRead(1), DeferCount(1),  # count 2, not pushed
            RaiseNetRx(0), SoftirqStart(0), FlushReset(0), FlushDetach(0), FlushFree(0),  # count 0, []
            DeferPush(1),  # [1]; 2 - 1 != 64 >> 1: no kick
            CloseDecide(0), CloseDecide(1),
        ],
    )  # fmt: skip
    slot = state.cpus[0].defer_slots[0]
    assert slot.defer_list == (1,)
    assert slot.defer_count == 0
    assert state.skbs[0].frees == (FreeEvent(0, "flush"),)
    assert state.skbs[1].frees == ()
    assert state.skbs[1].where == ("defer_list", 0, 0)
    assert state.cpus[0].defer_ipi_scheduled is False


# -- 8. a dead CPU's slot ---------------------------------------------------------------------------


def _deferred_to_cpu0(hotplug_flush: bool, env: Env) -> State:
    """Three skbs built on CPU 0, closed on CPU 1 and all deferred to CPU 0's slot (max 64)."""
    sock = socket(0, [Incoming(cpu=0, length=100, truesize=768) for _ in range(3)], [UserOp("close", 1)])
    state = boot([sock], Config(hotplug_flush=hotplug_flush), env=env)
    per_skb: list[Action] = [PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    return play(state, [PacketArrives(0)] * 3 + [CloseStart(0), *(per_skb * 3), CloseDecide(0)])


def test_dead_cpu_without_hotplug_flush_keeps_skbs() -> None:
    """Expected: without 06e3f54e8b22 the three skbs stay on offline CPU 0's slot (list [2, 1, 0],
    count 3, none freed) after dev_cpu_dead(); once CPU 0 is back, a NET_RX flush frees them there."""
    state = _deferred_to_cpu0(False, Env(offlines=1, netrx_raises=1))
    state = play(state, [CpuOffline(0), DevCpuDead(0)])
    slot = state.cpus[0].defer_slots[0]
    assert (slot.defer_list, slot.defer_count) == ((2, 1, 0), 3)
    assert all(skb.frees == () for skb in state.skbs)
    assert state.cpus[0].online is False
    state = play(state, [CpuOnline(0), RaiseNetRx(0), SoftirqStart(0), FlushReset(0), FlushDetach(0), FlushFree(0)])
    slot = state.cpus[0].defer_slots[0]
    assert (slot.defer_list, slot.defer_count) == ((), 0)
    assert all(skb.frees == (FreeEvent(0, "flush"),) for skb in state.skbs)


def test_dead_cpu_with_hotplug_flush_frees_on_survivor() -> None:
    """Expected: with the hotplug flush, dev_cpu_dead(0) frees the three skbs on surviving CPU 1
    with how "hotplug_flush" and resets defer_count to 0 (FACTS §10 assumption)."""
    state = _deferred_to_cpu0(True, Env(offlines=1))
    state = play(state, [CpuOffline(0), DevCpuDead(0)])
    slot = state.cpus[0].defer_slots[0]
    assert (slot.defer_list, slot.defer_count) == ((), 0)
    assert all(skb.frees == (FreeEvent(1, "hotplug_flush"),) for skb in state.skbs)


def test_late_producer_pushes_onto_dead_cpu_despite_hotplug_flush() -> None:
    """Expected: skb 1 ends on dead CPU 0's slot (list [1], count 1, never freed), even with the
    hotplug flush; skb 0 was freed by dev_cpu_dead() on CPU 1.

    Finding: skb_attempt_defer_free() runs preemptibly; a producer that passed the
    cpu_online(alloc_cpu) check before CPU 0 went down can increment and llist_add() after
    dev_cpu_dead() has emptied the slot. Nothing flushes it until CPU 0 comes back online (and
    then runs NET_RX), so a flush in dev_cpu_dead() alone does not make the dead CPU's slots empty."""
    sock = socket(0, [Incoming(cpu=0, length=100, truesize=768) for _ in range(2)], [UserOp("close", 1)])
    state = boot([sock], Config(hotplug_flush=True), env=Env(offlines=1))
    state = play(
        state,
        [
            PacketArrives(0), PacketArrives(0), CloseStart(0),
            PurgeStep(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0),  # skb 0 on CPU 0's slot, count 1
            PurgeStep(0), DeferCheck(0),  # skb 1: CPU 0 is online -> go on
            CpuOffline(0), DevCpuDead(0),  # skb 0 freed on CPU 1, count 0
            DeferRead(0), DeferCount(0), DeferPush(0),  # count 1, [1]; 1 - 1 != 32: no kick
            CloseDecide(0),
        ],
    )  # fmt: skip
    slot = state.cpus[0].defer_slots[0]
    assert (slot.defer_list, slot.defer_count) == ((1,), 1)
    assert state.skbs[0].frees == (FreeEvent(1, "hotplug_flush"),)
    assert state.skbs[1].frees == ()
    assert state.skbs[1].where == ("defer_list", 0, 0)
    assert (state.cpus[0].online, state.cpus[0].dead_pending) == (False, False)


# -- 9. reclaim at exactly PAGE_SIZE --------------------------------------------------------------


def test_reclaim_at_exactly_page_size() -> None:
    """Expected: truesizes 1000 and 3096 share one page; after the second uncharge
    sk_forward_alloc is exactly 4096 -> one page reclaimed (>=), sk_forward_alloc 0; the page
    was taken on CPU 0 (+1) and given back on closing CPU 1 (-1)."""
    sock = socket(
        0,
        [Incoming(cpu=0, length=500, truesize=1000), Incoming(cpu=0, length=1500, truesize=3096)],
        [UserOp("close", 1)],
    )
    state = play(boot([sock]), [PacketArrives(0)])
    s = state.sockets[0]
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (1000, 3096)  # 1 page - 1000
    state = play(state, [PacketArrives(0)])
    s = state.sockets[0]
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (4096, 0)  # 3096 fits: no new page
    assert state.cpus[0].per_cpu_fw_alloc == 1
    state = play(state, [CloseStart(0), PurgeStep(0)])
    s = state.sockets[0]
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (3096, 1000)  # 1000 < 4096: no reclaim
    assert state.cpus[1].per_cpu_fw_alloc == 0
    state, _ = finish_defer(state, 0)
    state = spec.step(state, PurgeStep(0))
    s = state.sockets[0]
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (0, 0)  # 4096 >= PAGE_SIZE: one page back
    assert state.cpus[1].per_cpu_fw_alloc == -1
    assert state.memory_allocated == 0  # |per-CPU| never reached mem_pcpu_rsv 256


# -- 10. SO_RESERVE_MEM ----------------------------------------------------------------------------


def test_reserved_memory_is_not_reclaimed() -> None:
    """Expected: with 2 reserved pages (8192 bytes) the socket ends with sk_forward_alloc 8192
    after every uncharge, and memory_allocated + per-CPU sum == 2 (the reserved pages)."""
    sock = socket(
        0,
        [Incoming(cpu=0, length=1448, truesize=2304), Incoming(cpu=0, length=8000, truesize=10000)],
        [UserOp("close", 0)],
        reserved_pages=2,
    )
    state = boot([sock])
    assert (state.memory_allocated, state.sockets[0].sk_forward_alloc) == (2, 8192)
    state = play(state, [PacketArrives(0), PacketArrives(0)])
    s = state.sockets[0]
    # 8192 - 2304 = 5888; then 10000 needs ceil(4112/4096) = 2 pages: 5888 + 8192 - 10000 = 4080.
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (12304, 4080)
    assert state.cpus[0].per_cpu_fw_alloc == 2
    state = play(state, [CloseStart(0), PurgeStep(0), DeferCheck(0)])
    s = state.sockets[0]
    # rmem 10000 > reserve: unused reserve 0; 4080 + 2304 = 6384 -> 1 page back, 2288 left.
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (10000, 2288)
    assert state.cpus[0].per_cpu_fw_alloc == 1
    state = play(state, [PurgeStep(0), DeferCheck(0), CloseDecide(0)])
    s = state.sockets[0]
    # 2288 + 10000 = 12288; unused reserve 8192; 4096 above it -> 1 page back, 8192 kept.
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (0, 8192)
    assert state.cpus[0].per_cpu_fw_alloc == 0
    assert state.memory_allocated == 2
    assert state.memory_allocated + sum(c.per_cpu_fw_alloc for c in state.cpus) == 2


# -- 11. an error-queue charge racing the purge ----------------------------------------------------


def test_err_queue_charge_during_purge() -> None:
    """Expected: sk_rmem_alloc ends at 768 (the error skb's truesize), the receive queue is
    empty, the error skb stays queued and charged; sk_forward_alloc 0."""
    sock = socket(
        0,
        [
            Incoming(cpu=0, length=1448, truesize=2304),
            Incoming(cpu=0, length=1448, truesize=2304),
            Incoming(cpu=0, length=0, truesize=768, errqueue=True),
        ],
        [UserOp("close", 0)],
    )
    state = play(boot([sock]), [PacketArrives(0), PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0)])
    s = state.sockets[0]
    assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (2304, 1792)  # 2 pages - 4608 + 2304 = 5888 -> 1792
    state = spec.step(state, ErrQueueCharge(0))  # no socket lock: the closing task holds it
    assert state.sockets[0].sk_rmem_alloc == 3072  # 2304 + 768
    state = play(state, [PurgeStep(0), DeferCheck(0), CloseDecide(0)])
    s = state.sockets[0]
    assert s.sk_rmem_alloc == 768  # 3072 - 2304
    assert s.sk_forward_alloc == 0  # 1792 + 2304 = 4096 -> one page back
    assert s.sk_receive_queue == ()
    assert s.sk_error_queue == (2,)
    assert state.skbs[2].frees == ()
    assert state.cpus[0].per_cpu_fw_alloc == 0  # 2 pages taken, 2 given back, all on CPU 0


# -- 12. the acceptance scenario: close-old vs close-new --------------------------------------------


def _attack(close_path: CloseVariant) -> State:
    cfg = attrs.evolve(KERNELS["v6.18"][0], close_path=close_path)
    result = run(attack(config=cfg).state)
    assert result.quiescent
    return result.final


def test_attack_close_old_vs_close_new() -> None:
    """Expected: 4 sockets x 40 unread skbs (truesize 2304) built on CPU 0, closed on CPU 1:
    both paths give each socket RST, TCPABORTONCLOSE 1, sk_rmem_alloc 0, sk_forward_alloc 0;
    memory_allocated 0 with CPU 0 +92 and CPU 1 -92 pages; close-old frees all 160 on CPU 1
    with kfree_skb; close-new never kfree_skb()s on CPU 1, frees on CPU 0 only by "flush", and
    every skb is freed exactly once or still on CPU 0's slot."""
    old, new = _attack("close-old"), _attack("close-new")
    for final in (old, new):
        assert len(final.skbs) == 160
        for s in final.sockets:
            assert (s.sk_rmem_alloc, s.sk_forward_alloc) == (0, 0)
            assert (s.rst_sent, s.fin_sent, s.TCPABORTONCLOSE, s.sk_state) == (1, 0, 1, "CLOSE")
        # each socket: ceil(40 * 2304 / 4096) = ceil(22.5) = 23 pages on CPU 0, given back on CPU 1;
        # 4 * 23 = 92 < mem_pcpu_rsv 256, so nothing reaches the global.
        assert final.memory_allocated == 0
        assert [c.per_cpu_fw_alloc for c in final.cpus] == [92, -92]
    assert old.sockets == new.sockets  # same decisions, counters and accounting, field by field

    assert all(skb.frees == (FreeEvent(1, "kfree_skb"),) for skb in old.skbs)

    on_slot = set(new.cpus[0].defer_slots[0].defer_list)
    events = [f for skb in new.skbs for f in skb.frees]
    assert FreeEvent(1, "kfree_skb") not in events
    assert {f.how for f in events if f.cpu == 0} == {"flush"}  # the kick at c=33 led to a flush
    assert {f.how for f in events if f.cpu == 1} <= {"nodefer:full"}
    for skb in new.skbs:
        if skb.id in on_slot:
            assert (skb.frees, skb.where) == ((), ("defer_list", 0, 0))
        else:
            assert len(skb.frees) == 1 and skb.where == ("freed",)
    assert len(on_slot) + sum(len(skb.frees) for skb in new.skbs) == 160


# -- 13. disabled actions ---------------------------------------------------------------------------


def _one_socket(config: Config | None = None) -> State:
    sock = socket(0, [Incoming(cpu=0, length=100, truesize=768)], [UserOp("close", 1)])
    return play(boot([sock], config), [PacketArrives(0)])


@pytest.mark.parametrize(
    ("prefix", "action", "reason", "config"),
    [
        ([], PurgeStep(0), "no close() of this socket is in its purge loop between skbs", None),
        ([CloseStart(0)], CloseDecide(0), "the purge loop has not emptied the receive queue", None),
        (
            [CloseStart(0), PurgeStep(0)],
            PurgeStep(0),  # the task is inside skb_attempt_defer_free()
            "no close() of this socket is in its purge loop between skbs",
            None,
        ),
        (
            [CloseStart(0), PurgeStep(0)],
            DeferPush(0),
            "socket 0's task is not at the push step of skb_attempt_defer_free()",
            None,
        ),
        (
            [CloseStart(0), PurgeStep(0), DeferCheck(0)],
            DeferCount(0),
            "defer-v2 has no separate count step",
            Config(defer="defer-v2"),
        ),
        ([], FlushReset(0), "CPU 0's flush is not at its reset step", None),
        ([], IpiDeliver(0), "no IPI is queued for CPU 0", None),
        ([], RaiseNetRx(0), "the workload allows no more unrelated NET_RX activity", None),
        ([], CpuOffline(0), "the workload allows no more CPU offline events", None),
        ([], PurgeStep(5), "it names a socket or CPU that does not exist", None),
        ([CloseStart(0)], CloseStart(0), "the socket is owned by a task", None),
    ],
)
def test_disabled_actions_raise(prefix: list[Action], action: Action, reason: str, config: Config | None) -> None:
    """Expected: spec.step raises spec.NotEnabled whose message names the action (its repr) and
    the reason; the action is absent from spec.enabled(state)."""
    state = play(_one_socket(config), prefix)
    with pytest.raises(spec.NotEnabled) as info:
        spec.step(state, action)
    assert info.value.action == action
    assert info.value.reason == reason
    assert str(info.value) == f"{action!r} is not enabled: {reason}"
    assert action not in spec.enabled(state)


def test_disabled_message_names_action() -> None:
    """Expected: the message of PurgeStep before CloseStart reads exactly
    "PurgeStep(sk=0) is not enabled: no close() of this socket is in its purge loop between skbs"."""
    with pytest.raises(spec.NotEnabled, match=r"^PurgeStep\(sk=0\) is not enabled: no close\(\)"):
        spec.step(_one_socket(), PurgeStep(0))


def test_action_naming_a_missing_socket_is_not_enabled() -> None:
    """Expected: on a machine with no socket, PurgeStep(0) is refused with a reason, not a crash."""
    empty = spec.boot(Config(), (0, 0), 4, [])
    with pytest.raises(spec.NotEnabled, match="does not exist"):
        spec.step(empty, PurgeStep(0))


# -- 14. issue 13: the behaviour changes of FACTS §14 ---------------------------------------------
# Each test below pins one behaviour change that `tcpclose spec-diff 70b45bf` reports; the
# expected values are worked out by hand from FACTS §14 (December 2026 corrections).


def _read_then_arrive(nodes: tuple[int, ...] = (0, 0)) -> State:
    """One socket: the application on CPU 1 reads the first skb (built on CPU 0), which is
    deferred to CPU 0's slot (count 1); a second packet for CPU 0 is still to come."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    sock = socket(0, packets, [UserOp("recv", 1, 1448), UserOp("close", 1)])
    state = boot([sock], cpu_nodes=nodes)
    return play(
        state, [PacketArrives(0), RecvStart(0), RecvCopy(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    )


def test_arrival_flushes_the_cpu_before_the_skb_is_built() -> None:
    """Expected (FACTS §14 "who flushes", 909876500251): the second packet's NET_RX run on CPU 0
    first flushes CPU 0's slot. PacketArrives builds nothing (still 1 skb, CPU 0 in softirq at the
    reset); FlushReset sets the count 1 -> 0; FlushDetach takes [0]; FlushFree frees skb 0 on CPU 0
    ("flush") and only then builds skb 1 (seq ISN+1448) on CPU 0 and queues it; the run is over."""
    state = play(_read_then_arrive(), [RecvEnd(0)])
    assert state.cpus[0].defer_slots[0].defer_list == (0,)
    state = spec.step(state, PacketArrives(0))
    assert len(state.skbs) == 1 and state.cpus[0].softirq is not None
    assert state.sockets[0].rx != ()  # the packet waits for the flush
    with pytest.raises(spec.NotEnabled, match="a packet for the socket is in NET_RX"):
        spec.step(state, CloseStart(0))  # no system call starts while its packet is in NET_RX
    state = play(state, [FlushReset(0)])
    assert state.cpus[0].defer_slots[0].defer_count == 0
    state = play(state, [FlushDetach(0), FlushFree(0)])
    assert state.skbs[0].frees == (FreeEvent(0, "flush"),)
    assert len(state.skbs) == 2 and state.skbs[1].seq == ISN + 1448 and state.skbs[1].alloc_cpu == 0
    assert state.sockets[0].sk_receive_queue == (1,)
    assert state.cpus[0].softirq is None


def test_arrival_on_empty_slots_is_one_step() -> None:
    """Expected: on a CPU whose slots are empty the arrival's flush finds nothing: the skb is built
    and queued in the PacketArrives step itself (the empty tests are folded into it), as before
    issue 13."""
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304)], [UserOp("close", 1)])
    state = spec.step(boot([sock]), PacketArrives(0))
    assert len(state.skbs) == 1 and state.sockets[0].sk_receive_queue == (0,) and state.cpus[0].softirq is None


def test_netrx_over_empty_slots_is_one_step() -> None:
    """Expected: an unrelated NET_RX run on a CPU whose slots are empty starts and ends in the
    SoftirqStart step (before issue 13 it took a FlushReset per slot as well)."""
    sock = socket(0, [], [UserOp("close", 1)])
    state = play(boot([sock], cpu_nodes=(0, 1), env=Env(netrx_raises=1)), [RaiseNetRx(0), SoftirqStart(0)])
    assert state.cpus[0].softirq is None and not state.cpus[0].net_rx_pending


def test_reads_before_the_increment_are_their_own_step() -> None:
    """Expected (FACTS §14 "the reads before the increment"): skb_defer_max 4 is read, then set to
    1, then the attempt increments: it uses the 4 it read, so count 1 < 4 and the skb is pushed
    (with the sysctl read at the increment, 1 >= 1 would have freed it). Its record says what it
    read: max 4, node 0, read on CPU 1."""
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304)], [UserOp("close", 1)])
    state = boot([sock], defer_max=4, env=Env(defer_max_values=(1,), defer_max_writes=1))
    state = play(state, [PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0)])
    state = play(state, [SetDeferMax(1), DeferCount(0), DeferPush(0)])
    rec = state.skbs[0].deferred
    assert state.cpus[0].defer_slots[0].defer_list == (0,)
    assert rec is not None and (rec.defer_max, rec.node, rec.producer_cpu, rec.count) == (4, 0, 1, 1)


def test_migration_between_the_reads_and_the_increment() -> None:
    """Expected: on CPUs (0, 1, 2) with nodes (0, 1, 1), the skb built on CPU 2 is freed by a task
    that reads its node on CPU 1 (node 1), is migrated to CPU 0 (node 0), then increments: the
    count goes to CPU 2's slot of node 1, the node it read, although it now runs on node 0; the
    record keeps both CPUs (read on 1, counted on 0)."""
    sock = socket(0, [Incoming(cpu=2, length=1448, truesize=2304)], [UserOp("close", 1)])
    state = boot([sock], cpu_nodes=(0, 1, 1), env=Env(migrations=1))
    state = play(state, [PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0)])
    state = play(state, [spec.Migrate(0, 0), DeferCount(0), DeferPush(0)])
    assert state.cpus[2].defer_slots[1].defer_list == (0,) and state.cpus[2].defer_slots[0].defer_count == 0
    rec = state.skbs[0].deferred
    assert rec is not None and (rec.node, rec.producer_cpu, rec.counted_cpu) == (1, 1, 0)


def test_v2_read_step_is_the_racy_precheck() -> None:
    """Expected (defer-v2): the pre-check reads the count and the max in the read step: with max 1
    the first attempt sees count 0 < 1 and goes on to the locked push (count 1, kick: 0 == 1 >> 1);
    its record keeps the count the pre-check saw (0)."""
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304)], [UserOp("close", 1)])
    state = boot([sock], Config(defer="defer-v2"), defer_max=1)
    state = play(state, [PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0), DeferRead(0), DeferPush(0)])
    rec = state.skbs[0].deferred
    assert rec is not None and (rec.seen_count, rec.count, rec.defer_max) == (0, 1, 1)
    task = state.sockets[0].owner
    assert task is not None and task.defer is not None and task.defer.pc == "kick"


@pytest.mark.parametrize("preempt", ["none", "voluntary", "full"])
def test_cpu_offline_needs_every_cpu_at_its_stopper(preempt: str) -> None:
    """Expected (FACTS §14 "taking a CPU down"): CPU 1 cannot go offline while CPU 0 is in softirq
    (any CPU, not only the dying one); and, unless preemption is full, not while socket 0's task is
    inside skb_attempt_defer_free(), nor may that task migrate there."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    sock = socket(0, packets, [UserOp("recv", 1, 1448), UserOp("close", 1)])
    state = boot([sock], Config(preempt=preempt), env=Env(offlines=1, migrations=1))  # type: ignore[arg-type]
    read = [RecvStart(0), RecvCopy(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0), RecvEnd(0)]
    state = play(state, [PacketArrives(0), *read, PacketArrives(0)])  # CPU 0's NET_RX run is flushing
    with pytest.raises(spec.NotEnabled, match="CPU 0 is in softirq"):
        spec.step(state, CpuOffline(1))
    state = play(state, [FlushReset(0), FlushDetach(0), FlushFree(0), CloseStart(0), PurgeStep(0), DeferCheck(0)])
    if preempt == "full":
        assert CpuOffline(0) in spec.enabled(state) and spec.Migrate(0, 0) in spec.enabled(state)
    else:
        for act in (CpuOffline(0), spec.Migrate(0, 0)):
            with pytest.raises(spec.NotEnabled, match=f"preempt={preempt}"):
                spec.step(state, act)


@pytest.mark.parametrize(("zcopy_check", "freed"), [(False, ()), (True, (FreeEvent(1, "nodefer:zcopy"),))])
def test_zero_copy_test_only_where_the_kernel_has_it(zcopy_check: bool, freed: tuple[FreeEvent, ...]) -> None:
    """Expected (FACTS §14 "zero-copy test"): without 0943404b1f3b (v6.18.0) a zero-copy skb passes
    the check and goes on to the read step; with it (v6.18.y) it is freed at once on CPU 1."""
    sock = socket(0, [Incoming(cpu=0, length=1448, truesize=2304, zcopy=True)], [UserOp("close", 1)])
    state = boot([sock], Config(zcopy_check=zcopy_check))
    state = play(state, [PacketArrives(0), CloseStart(0), PurgeStep(0), DeferCheck(0)])
    assert state.skbs[0].frees == freed
    task = state.sockets[0].owner
    assert (task is not None and task.defer is not None) is (not zcopy_check)


def test_named_kernels_match_their_names() -> None:
    """Expected: the zero-copy test only in the stable series (v6.18.y, v6.19.y), never in v6.17,
    v6.18 (v6.18.0) or v6.19 (v6.19.0); skb_defer_max 128 from v6.19; the page-pool kick where read
    (6.18.35) and assumed for 6.19.y; the TX-completion producer (e20dfbad8aab) from v6.19."""
    table = {
        name: (cfg.zcopy_check, dmax, cfg.page_pool_kick, cfg.napi_consume_defers)
        for name, (cfg, dmax) in KERNELS.items()
    }
    assert table == {
        "v6.17": (False, 64, False, False),
        "v6.18": (False, 64, False, False),
        "v6.18.y": (True, 64, True, False),
        "v6.19": (False, 128, False, True),
        "v6.19.y": (True, 128, True, True),
    }


def test_page_pool_walk_kicks_every_online_cpu() -> None:
    """Expected (FACTS §14 "another claimant of the guard"): on three CPUs with CPU 1 offline, the
    walk kicks CPU 0 (guard set, IPI queued), skips CPU 1, kicks CPU 2, and ends: 3 steps; a
    second kick of CPU 0 while its guard is set would send nothing."""
    sock = socket(0, [], [])
    state = boot([sock], Config(page_pool_kick=True), cpu_nodes=(0, 0, 0), env=Env(offlines=1, page_pool_releases=1))
    state = play(state, [CpuOffline(1), DevCpuDead(1), spec.PagePoolRetry()])
    assert state.page_pool is not None and state.page_pool.cpu == 0
    state = play(state, [spec.PagePoolRetry()])
    assert state.page_pool is not None and state.page_pool.cpu == 2  # CPU 1 skipped
    assert (state.cpus[0].defer_ipi_scheduled, state.cpus[0].ipi_queued) == (True, 1)
    state = play(state, [spec.PagePoolRetry()])
    assert state.page_pool is None and state.cpus[2].ipi_queued == 1
    assert not state.cpus[1].defer_ipi_scheduled
    assert spec.PagePoolRetry() not in spec.enabled(state)  # budget spent


def test_socket_destruction_gives_the_error_queue_charge_back() -> None:
    """Expected (FACTS §5.4, the promise F1 is about): an error-queue skb (768 bytes) is charged,
    the socket is closed (sk_rmem_alloc still 768 at the decision: finding F1), then destroyed:
    inet_sock_destruct() frees the skb (its destructor sock_rmem_free() gives 768 back) and
    sk_mem_reclaim_final() drops the one SO_RESERVE_MEM page: sk_rmem_alloc 0, sk_forward_alloc 0,
    sk_reserved_mem 0, memory_allocated 1 -> 0 pages (through CPU 0's per-CPU cache: -1)."""
    sock = socket(0, [Incoming(cpu=0, length=0, truesize=768, errqueue=True)], [UserOp("close", 1)], reserved_pages=1)
    state = play(boot([sock]), [ErrQueueCharge(0), CloseStart(0), CloseDecide(0)])
    assert state.sockets[0].sk_rmem_alloc == 768
    state = spec.step(state, SockDestruct(0))
    s = state.sockets[0]
    assert (s.sk_rmem_alloc, s.sk_forward_alloc, s.sk_reserved_mem, s.destroyed) == (0, 0, 0, True)
    assert state.skbs[0].frees == (FreeEvent(0, "destruct:err_queue"),)
    assert state.memory_allocated + sum(c.per_cpu_fw_alloc for c in state.cpus) == 0


def test_tx_completion_defers_from_softirq() -> None:
    """Expected (FACTS §14 "v6.19, a second producer", e20dfbad8aab): a TX completion on CPU 1 of
    an skb built on CPU 0 runs NET_RX on CPU 1 (its flush finds nothing), then napi_consume_skb()
    makes the attempt from softirq: check (CPU 0 online, not CPU 1), read (node 0, max 64 on CPU
    1), count 1, push onto CPU 0's slot, no kick (1 - 1 != 32); 4 NapiConsumeSkb steps, and the
    run ends with the attempt. Meanwhile no CPU can go offline (CPU 1 is in softirq). Without the
    switch (v6.18) the skb is freed on CPU 1 in the TxComplete step."""
    env = Env(offlines=1, tx_completions=((0, 1),))
    state = spec.step(boot([socket(0, [], [])], Config(napi_consume_defers=True), env=env), spec.TxComplete(1))
    assert state.skbs[0].alloc_cpu == 0 and state.skbs[0].where == ("held", "softirq", 1)
    with pytest.raises(spec.NotEnabled, match="CPU 1 is in softirq"):
        spec.step(state, CpuOffline(0))
    state = play(state, [spec.NapiConsumeSkb(1)] * 4)
    rec = state.skbs[0].deferred
    assert state.cpus[0].defer_slots[0].defer_list == (0,) and state.cpus[1].softirq is None
    assert rec is not None and (rec.producer_cpu, rec.node, rec.count, rec.defer_max) == (1, 0, 1, 64)
    old = spec.step(boot([socket(0, [], [])], Config(), env=env), spec.TxComplete(1))
    assert old.skbs[0].frees == (FreeEvent(1, "tx_complete"),) and old.cpus[1].softirq is None
