"""The arithmetic rules of the close and defer paths, as pure functions of integers.

Every threshold the spec applies lives here, so that a reader can hold each one beside the C
expression it mirrors, CrossHair can check their contracts, and a mutant can replace exactly one.
The mechanism modules call these through the module (``rules.defer_fallback(...)``) for that reason.

Sources (all v6.18 unless said): include/net/tcp.h: before()/after(); net/core/skbuff.c:
skb_attempt_defer_free() (v6.18 lock-free version, and v5.19-v6.17 spinlock version);
include/net/sock.h: sk_mem_pages(), sk_unused_reserved_mem(), sk_mem_reclaim();
include/net/proto_memory.h: sk_memory_allocated_add()/sub(); net/ipv4/tcp.c: __tcp_close().
"""

from __future__ import annotations

U32 = 1 << 32
U32_MASK = U32 - 1
S32_SIGN = 1 << 31


def seq_add(seq: int, n: int) -> int:
    """Sequence arithmetic is modulo 2**32 (TCP sequence space)."""
    return (seq + n) & U32_MASK


def after(seq1: int, seq2: int) -> bool:
    """``seq1`` is later than ``seq2`` in wrap-around order: the signed 32-bit difference
    ``seq2 - seq1`` is negative (include/net/tcp.h: after(), v6.18).

    pre: 0 <= seq1 < 2**32 and 0 <= seq2 < 2**32
    post: __return__ == (0 < (seq1 - seq2) % 2**32 <= 2**31)
    """
    return ((seq2 - seq1) & U32_MASK) >= S32_SIGN


def payload_len(seq: int, end_seq: int, fin: bool) -> int:
    """Bytes of data in an skb: end_seq counts the FIN as one (u32 arithmetic)."""
    return (end_seq - seq - int(fin)) & U32_MASK


def unread_by_end_seq(end_seq: int, fin: bool, copied_seq: int) -> bool:
    """Close's unread test since 5f9238530970 (v6.18): the last data byte of the skb lies after
    the next byte the application would read; a FIN is not data.

    pre: 0 <= end_seq < 2**32 and 0 <= copied_seq < 2**32
    post: __return__ == after((end_seq - int(fin)) % 2**32, copied_seq)
    """
    return after((end_seq - int(fin)) & U32_MASK, copied_seq)


def unread_len_sum(total: int, seq: int, end_seq: int, fin: bool) -> int:
    """Close's unread test before 5f9238530970: a u32 running sum of every queued skb's payload
    length, whether or not the application had already read part of it.

    pre: 0 <= total < 2**32
    post: 0 <= __return__ < 2**32
    """
    return (total + payload_len(seq, end_seq, fin)) & U32_MASK


def defer_fallback(count: int, defer_max: int) -> bool:
    """defer-v6: after the atomic increment the attempt frees locally when the new count has
    reached the limit (``c >= max``); the count is not given back.

    pre: count >= 1 and defer_max >= 0
    post: __return__ == (count >= defer_max)
    """
    return count >= defer_max


def defer_kick(count: int, defer_max: int) -> bool:
    """defer-v6: the producer whose increment took the count to half capacity plus one kicks
    the owning CPU (``c - 1 == max >> 1``).

    pre: count >= 1 and defer_max >= 0
    post: __return__ == (count - 1 == defer_max // 2)
    """
    return count - 1 == defer_max >> 1


def defer_kick_at_or_above(count_before: int, defer_max: int) -> bool:
    """The candidate fix of F8 and F10 (fix-F8-kick-once-per-epoch): a push whose count before
    its own increment is at or above half the maximum it read asks to kick (defer-v6: ``c - 1 >=
    max >> 1``; defer-v2: the count before the push), and the slot's kicked flag lets one of them
    per epoch through (spec/defer.py).

    pre: count_before >= 0 and defer_max >= 0
    post: __return__ == (count_before >= defer_max // 2)
    """
    return count_before >= defer_max >> 1


def defer_v2_full(count: int, defer_max: int) -> bool:
    """defer-v2: the racy pre-check reads the count before taking the lock (``count >= max``).

    pre: count >= 0 and defer_max >= 0
    post: __return__ == (count >= defer_max)
    """
    return count >= defer_max


def defer_v2_kick(count_before: int, defer_max: int) -> bool:
    """defer-v2: under the lock, kick when the count before this skb's increment equals half
    the limit (so ``max`` 1 kicks on the first skb, after Kicinski's fix).

    pre: count_before >= 0 and defer_max >= 0
    post: __return__ == (count_before == defer_max // 2)
    """
    return count_before == defer_max >> 1


def defer_v2_kick_after(count_after: int, defer_max: int) -> bool:
    """defer-v2 before c09b0cd2cc6c (net/core/skbuff.c: skb_attempt_defer_free(), v5.19-rc1 as
    39564c3fdc66 merged it): kick when the count *after* this skb's increment equals half the
    limit, so ``max`` 1 (half 0) never kicks.

    pre: count_after >= 1 and defer_max >= 0
    post: __return__ == (count_after == defer_max // 2)
    """
    return count_after == defer_max >> 1


def schedule_pages(sk_forward_alloc: int, truesize: int, page_size: int) -> int:
    """Pages to reserve before charging ``truesize`` (include/net/sock.h: __sk_rmem_schedule(),
    sk_mem_pages()): none when the forward allocation covers it, else the shortfall rounded up.

    pre: truesize >= 0 and page_size > 0
    post: __return__ >= 0
    post: sk_forward_alloc + __return__ * page_size >= truesize
    post: __return__ == 0 or sk_forward_alloc + (__return__ - 1) * page_size < truesize
    """
    delta = truesize - sk_forward_alloc
    if delta <= 0:
        return 0
    return (delta + page_size - 1) // page_size


def unused_reserved_mem(sk_reserved_mem: int, sk_wmem_queued: int, sk_rmem_alloc: int) -> int:
    """The part of an SO_RESERVE_MEM reservation not backing queued data (sk_unused_reserved_mem()).

    post: __return__ >= 0
    """
    if sk_reserved_mem == 0:
        return 0
    return max(0, sk_reserved_mem - sk_wmem_queued - sk_rmem_alloc)


def reclaim_pages(sk_forward_alloc: int, unused_reserve: int, page_size: int) -> int:
    """Whole pages given back after an uncharge (sk_mem_reclaim(), __sk_mem_reclaim(), v6.0+):
    everything above the unused reserve once it reaches one page (note ``>=``).

    pre: page_size > 0 and unused_reserve >= 0
    post: __return__ >= 0
    post: sk_forward_alloc - unused_reserve - __return__ * page_size < page_size
    post: __return__ == 0 or sk_forward_alloc - unused_reserve - __return__ * page_size >= 0
    """
    reclaimable = sk_forward_alloc - unused_reserve
    if reclaimable >= page_size:
        return reclaimable // page_size
    return 0


def pcpu_drains(per_cpu_fw_alloc: int, mem_pcpu_rsv: int) -> bool:
    """The per-CPU page cache is folded into the global count once it reaches the reserve in
    either direction, inclusive (sk_memory_allocated_add()/sub()).

    pre: mem_pcpu_rsv >= 0
    post: __return__ == (abs(per_cpu_fw_alloc) >= mem_pcpu_rsv)
    """
    return per_cpu_fw_alloc >= mem_pcpu_rsv or per_cpu_fw_alloc <= -mem_pcpu_rsv


def napi_cache_bulk(count_after_put: int, cache_size: int, bulk: int) -> int:
    """Heads handed back to the slab when a put fills the NAPI skb cache (napi_skb_cache_put()).

    pre: 0 < bulk <= cache_size and 0 <= count_after_put <= cache_size
    post: __return__ in (0, bulk)
    """
    return bulk if count_after_put >= cache_size else 0
