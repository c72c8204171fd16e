"""Property tests of the pure rules of spec/rules.py, symbolic under the thorough profile.

Under the ``dev`` and ``ci`` profiles these are ordinary Hypothesis tests (random integers, with
the 32-bit boundaries as explicit examples). Under ``thorough`` they run on Hypothesis's CrossHair
backend (``hypothesis[crosshair]``, the hypothesis-crosshair package): each example is a path
through the rule explored with an SMT solver, so a boundary such as ``count == defer_max`` or a
sequence difference of exactly 2**31 is found by solving rather than by luck. The backend is
never used in CI: it is slower, and its results depend on solver timeouts.
"""

from __future__ import annotations

import importlib.util

from hypothesis import example, given, settings
from hypothesis import strategies as st

from properties import profiles
from spec import rules

U32 = 1 << 32
HALF = 1 << 31
CROSSHAIR_BACKEND = importlib.util.find_spec("hypothesis_crosshair_provider") is not None


def pure_settings() -> settings:
    """The settings of these tests: the loaded profile's, on the CrossHair backend under thorough
    (when hypothesis-crosshair is installed)."""
    if profiles.current() == "thorough" and CROSSHAIR_BACKEND:
        return settings(backend="crosshair", max_examples=100, deadline=None, database=None)
    return settings()


PURE = pure_settings()
seqs = st.integers(0, U32 - 1)
small = st.integers(0, 1 << 20)


@PURE
@given(seqs, seqs)
@example(0, HALF)
@example(HALF, 0)
@example(U32 - 1, 0)
def test_after_is_antisymmetric_except_half_the_space_apart(a: int, b: int) -> None:
    both = rules.after(a, b) and rules.after(b, a)
    neither = not rules.after(a, b) and not rules.after(b, a)
    assert both == ((a - b) % U32 == HALF)  # the one ambiguous distance: both say "after"
    assert neither == (a == b)


@PURE
@given(seqs, st.integers(1, HALF - 1))
@example(U32 - 1, 1)
def test_a_sequence_advanced_by_less_than_half_the_space_is_after(seq: int, n: int) -> None:
    later = rules.seq_add(seq, n)
    assert rules.after(later, seq) and not rules.after(seq, later)


@PURE
@given(seqs, st.integers(0, 65535), st.booleans())
@example(U32 - 1, 1, False)
def test_unread_means_data_beyond_the_copied_sequence(seq: int, length: int, fin: bool) -> None:
    end_seq = rules.seq_add(seq, length + int(fin))
    assert not rules.unread_by_end_seq(end_seq, fin, end_seq)  # everything copied (a FIN is not data)
    assert rules.unread_by_end_seq(end_seq, fin, seq) == (length > 0)  # nothing copied yet


@PURE
@given(st.integers(-(1 << 24), 1 << 24), small, st.integers(1, 1 << 16))
@example(4096, 0, 4096)
@example(4095, 0, 4096)
def test_reclaim_gives_back_whole_pages_above_the_reserve_and_no_more(forward: int, reserve: int, page: int) -> None:
    pages = rules.reclaim_pages(forward, reserve, page)
    left = forward - reserve - pages * page
    assert pages >= 0 and left < page
    assert pages == 0 or left >= 0


@PURE
@given(st.integers(-(1 << 24), 1 << 24), small, st.integers(1, 1 << 16))
@example(0, 1, 4096)
@example(0, 4096, 4096)
def test_schedule_reserves_the_fewest_pages_that_cover_the_charge(forward: int, truesize: int, page: int) -> None:
    pages = rules.schedule_pages(forward, truesize, page)
    assert pages >= 0 and forward + pages * page >= truesize
    assert pages == 0 or forward + (pages - 1) * page < truesize


@PURE
@given(st.integers(1, 1 << 16), st.integers(0, 1 << 16))
@example(1, 0)
@example(1, 1)
@example(2, 2)
@example(2, 3)
def test_one_count_kicks_before_the_fallback_starts_at_the_limit(count: int, defer_max: int) -> None:
    kick = defer_max // 2 + 1  # the count after the increment that kicks
    assert rules.defer_kick(count, defer_max) == (count == kick)
    assert rules.defer_fallback(count, defer_max) == (count >= defer_max)
    if defer_max >= 2:  # the kick comes before the slot is full
        assert kick < defer_max or (defer_max == 2 and kick == 2)
        assert not rules.defer_fallback(kick - 1, defer_max)
    assert rules.defer_v2_kick(count - 1, defer_max) == (count == kick)  # v2 tests the count before its increment


@PURE
@given(st.integers(-(1 << 20), 1 << 20), st.integers(0, 1 << 20))
@example(256, 256)
@example(-256, 256)
@example(255, 256)
def test_the_per_cpu_drain_is_symmetric_and_inclusive(local: int, rsv: int) -> None:
    assert rules.pcpu_drains(local, rsv) == rules.pcpu_drains(-local, rsv) == (abs(local) >= rsv)
