"""Unit tests of spec/rules.py: every threshold checked against values computed by hand from the
kernel expressions named in FACTS.md (§2-§9) and include/net/tcp.h."""

from __future__ import annotations

import pytest

from spec import rules

U32 = 2**32


# -- sequence numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq1", "seq2", "expected"),
    [
        (2, 1, True),  # plain order
        (1, 2, False),
        (5, 5, False),  # equal is never after
        (0, U32 - 1, True),  # 0 follows 2**32-1 across the wrap
        (U32 - 1, 0, False),
        (447, U32 - 1000, True),  # 1447 bytes on, across the wrap
        (U32 - 1000, 447, False),
        (2**31 - 1, 0, True),  # (s32)(0 - (2**31-1)) = -(2**31-1) < 0
        (0, 2**31 - 1, False),  # (s32)(2**31-1) > 0
        # The antipode: (s32)(seq2 - seq1) == -2**31 < 0 both ways, so after() is true in
        # both directions (kernel: before() is (__s32)(seq1 - seq2) < 0).
        (2**31, 0, True),
        (0, 2**31, True),
    ],
)
def test_after(seq1: int, seq2: int, expected: bool) -> None:
    assert rules.after(seq1, seq2) is expected


def test_seq_add_wraps() -> None:
    assert rules.seq_add(U32 - 1000, 1448) == 448  # 4294966296 + 1448 - 2**32
    assert rules.seq_add(448, -1448) == U32 - 1000
    assert rules.seq_add(7, 0) == 7


@pytest.mark.parametrize(
    ("seq", "end_seq", "fin", "expected"),
    [
        (1000, 2000, False, 1000),
        (1000, 2001, True, 1000),  # the FIN takes one sequence number, no data
        (1000, 1001, True, 0),  # FIN only
        (U32 - 10, 5, False, 15),  # 10 bytes before the wrap, 5 after
    ],
)
def test_payload_len(seq: int, end_seq: int, fin: bool, expected: int) -> None:
    assert rules.payload_len(seq, end_seq, fin) == expected


@pytest.mark.parametrize(
    ("end_seq", "fin", "copied_seq", "expected"),
    [
        (1001, True, 1000, False),  # FIN only at copied_seq: nothing unread
        (1001, False, 1000, True),  # one byte at 1000 not read
        (1002, True, 1000, True),  # one byte plus FIN
        (1000, False, 1000, False),  # everything read
        (1000, False, 1500, False),  # a retransmission entirely below copied_seq
        (0, True, U32 - 1, False),  # FIN at 2**32-1 == copied_seq
        (1, True, U32 - 1, True),  # last data byte at 0, after 2**32-1
        (448, False, U32 - 1000, True),  # data across the wrap, none read
        (448, False, 448, False),  # data across the wrap, all read
    ],
)
def test_unread_by_end_seq(end_seq: int, fin: bool, copied_seq: int, expected: bool) -> None:
    assert rules.unread_by_end_seq(end_seq, fin, copied_seq) is expected


@pytest.mark.parametrize(
    ("total", "seq", "end_seq", "fin", "expected"),
    [
        (0, 1000, 2001, True, 1000),  # 1000 data bytes + FIN
        (0, 1000, 1001, True, 0),  # FIN only adds nothing
        (1000, 2000, 2500, False, 1500),  # running sum
        (0, U32 - 10, 5, False, 15),  # payload across the wrap
        (U32 - 1, 0, 1, False, 0),  # the u32 sum itself wraps to 0
    ],
)
def test_unread_len_sum(total: int, seq: int, end_seq: int, fin: bool, expected: int) -> None:
    assert rules.unread_len_sum(total, seq, end_seq, fin) == expected


# -- defer-v6 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "defer_max", "expected"),
    [
        (63, 64, False),  # c < max: push
        (64, 64, True),  # c >= max: free now
        (70, 64, True),
        (1, 0, True),  # max 0: never defers
        (1, 1, True),  # max 1: never defers
        (1, 2, False),  # max 2: the first one is deferred
        (2, 2, True),
        (127, 128, False),
        (128, 128, True),
    ],
)
def test_defer_fallback(count: int, defer_max: int, expected: bool) -> None:
    assert rules.defer_fallback(count, defer_max) is expected


@pytest.mark.parametrize(
    ("count", "defer_max", "expected"),
    [
        (33, 64, True),  # 33 - 1 == 64 >> 1
        (32, 64, False),
        (34, 64, False),
        (65, 128, True),  # 65 - 1 == 128 >> 1
        (2, 3, True),  # 2 - 1 == 3 >> 1 == 1
        (2, 2, True),  # predicate true, but c >= max already fell back: max 2 never kicks
        (1, 1, True),  # 0 == 1 >> 1, but again a fallback
        (1, 0, True),  # 0 == 0 >> 1, fallback
        (1, 64, False),
    ],
)
def test_defer_kick(count: int, defer_max: int, expected: bool) -> None:
    assert rules.defer_kick(count, defer_max) is expected


# -- defer-v2 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "defer_max", "expected"),
    [
        (63, 64, False),
        (64, 64, True),
        (65, 64, True),  # the racy pre-check can see an overfull list
        (0, 0, True),  # max 0: never defers
        (0, 1, False),  # max 1: defers one skb
        (1, 1, True),
    ],
)
def test_defer_v2_full(count: int, defer_max: int, expected: bool) -> None:
    assert rules.defer_v2_full(count, defer_max) is expected


@pytest.mark.parametrize(
    ("count_before", "defer_max", "expected"),
    [
        (0, 1, True),  # max 1 kicks on the first skb (Kicinski's fix)
        (32, 64, True),  # the 33rd skb
        (31, 64, False),
        (33, 64, False),
        (1, 2, True),
        (1, 3, True),
        (64, 128, True),
        (0, 64, False),
    ],
)
def test_defer_v2_kick(count_before: int, defer_max: int, expected: bool) -> None:
    assert rules.defer_v2_kick(count_before, defer_max) is expected


# -- memory accounting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fwd", "truesize", "expected"),
    [
        (0, 2304, 1),  # ceil(2304 / 4096)
        (1792, 2304, 1),  # shortfall 512 -> one page
        (2304, 2304, 0),  # exactly covered
        (0, 4096, 1),  # exactly one page
        (0, 4097, 2),  # one byte more
        (5000, 100, 0),
        (0, 0, 0),
        (5888, 10000, 2),  # shortfall 4112 -> two pages
        (8192, 10000, 1),  # shortfall 1808 -> one page
    ],
)
def test_schedule_pages(fwd: int, truesize: int, expected: int) -> None:
    assert rules.schedule_pages(fwd, truesize, 4096) == expected


@pytest.mark.parametrize(
    ("reserved", "wmem", "rmem", "expected"),
    [
        (0, 0, 100, 0),  # no reserve
        (8192, 0, 0, 8192),  # nothing queued: the whole reserve is unused
        (8192, 0, 2304, 5888),  # 8192 - 2304
        (8192, 1000, 2304, 4888),  # 8192 - 1000 - 2304
        (8192, 0, 10000, 0),  # queued data exceeds the reserve: clamped at 0
    ],
)
def test_unused_reserved_mem(reserved: int, wmem: int, rmem: int, expected: int) -> None:
    assert rules.unused_reserved_mem(reserved, wmem, rmem) == expected


@pytest.mark.parametrize(
    ("fwd", "unused", "expected"),
    [
        (4096, 0, 1),  # exactly PAGE_SIZE: reclaimed (>=)
        (4095, 0, 0),  # one byte short
        (8191, 0, 1),  # floor(8191 / 4096)
        (8192, 0, 2),
        (0, 0, 0),
        (12288, 8192, 1),  # 4096 above the unused reserve
        (12287, 8192, 0),  # 4095 above it
        (8192, 8192, 0),  # all of it is reserve
        (6384, 0, 1),
    ],
)
def test_reclaim_pages(fwd: int, unused: int, expected: int) -> None:
    assert rules.reclaim_pages(fwd, unused, 4096) == expected


@pytest.mark.parametrize(
    ("local", "rsv", "expected"),
    [
        (256, 256, True),  # +rsv inclusive
        (255, 256, False),
        (-256, 256, True),  # -rsv inclusive
        (-255, 256, False),
        (300, 256, True),
        (0, 256, False),
        (0, 0, True),  # rsv 0: every change goes to the global at once
        (1, 1, True),
        (-1, 1, True),
    ],
)
def test_pcpu_drains(local: int, rsv: int, expected: bool) -> None:
    assert rules.pcpu_drains(local, rsv) is expected


@pytest.mark.parametrize(
    ("count", "size", "bulk", "expected"),
    [
        (64, 64, 32, 32),  # full cache: bulk free 32
        (63, 64, 32, 0),
        (128, 128, 32, 32),
        (127, 128, 32, 0),
        (1, 64, 32, 0),
    ],
)
def test_napi_cache_bulk(count: int, size: int, bulk: int, expected: int) -> None:
    assert rules.napi_cache_bulk(count, size, bulk) == expected
