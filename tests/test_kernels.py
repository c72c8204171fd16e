"""Kernels as named sets of switches (model/kernels.py): the table, ``tcpclose kernels``,
``--kernel`` for check and explore, and each historical switch's pair of kernels, whose known
findings on a named small configuration are pinned per engine."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings

from model import kernels
from model.kernels import HISTORY, KERNELS, SWITCHES, History, Kernel
from model.machines import KERNELS as RELEASES
from model.small import SMALL
from properties import checkrun, coverage
from properties.explorer import explore
from properties.workloads import Focus, initial_states
from spec import Config, SpecError
from tests.test_replay import tcpclose

SWITCH_FIELDS = ("close_path", "unread_test", "defer", "hotplug_flush", "zcopy_check", "page_pool_kick",
                 "napi_consume_defers", "ipi_guard", "v2_kick_count", "flush_before_poll", "idle_run_flushes",
                 "rmem_atomic")  # fmt: skip


def test_every_kernel_is_expressible_and_has_its_switches() -> None:
    """Expected: each named kernel builds a Config; a switch it has sets its ``on`` fields, one it
    lacks its ``off`` fields; every kernel has the switches the spec cannot take away."""
    for k in KERNELS.values():
        config = k.config()
        for sid, switch in SWITCHES.items():
            fields = switch.on if sid in k.has else switch.off
            if fields is None:
                assert sid in k.has, (k.name, sid)
                continue
            for key, value in fields.items():
                assert getattr(config, key) == value, (k.name, sid, key)


def test_releases_keep_their_old_configs() -> None:
    """model/machines.py's KERNELS (the releases) are the table's, with their old defaults."""
    assert RELEASES["v6.17"] == (Config(close_path="close-old", unread_test="len_sum", defer="defer-v2"), 64)
    assert RELEASES["v6.18"] == (Config(), 64)
    v619 = Config(napi_cache_size=128, napi_consume_defers=True)
    assert RELEASES["v6.19.y"] == (attrs.evolve(v619, zcopy_check=True, page_pool_kick=True), 128)


def test_a_kernel_the_spec_cannot_express_is_refused() -> None:
    """Lacking a switch without an ``off`` (the per-CPU lists themselves), or having one of the
    two defer-v6 commits without the other, is one SpecError line."""
    listless = Kernel("no-lists", kernels.KERNELS["v6.18"].has - {"68822bdf76f1"}, 64, 64, "")
    with pytest.raises(SpecError, match="only kernels with 68822bdf76f1"):
        listless.config()
    half = Kernel("half-v6", kernels.KERNELS["v6.18"].has - {"5628f3fe3b16"}, 64, 64, "")
    with pytest.raises(SpecError, match="5628f3fe3b16 sets defer='defer-v2'"):
        half.config()
    with pytest.raises(SpecError, match="unknown kernel 'v9'"):
        kernels.kernel("v9")


def test_kernels_json() -> None:
    done = tcpclose("kernels", "--json")
    assert done.returncode == 0, done.stderr
    table = {k["name"]: k for k in json.loads(done.stdout)}
    assert list(table) == list(KERNELS)
    for row in table.values():
        history = {s for s, sw in SWITCHES.items() if not sw.candidate}
        assert set(row["has"]) | set(row["lacks"]) >= history and not set(row["has"]) & set(row["lacks"])
        assert set(row["lacks"]) <= history
    assert table["v6.17"]["fixes"] == [] and "5f9238530970" in table["v6.17"]["lacks"]
    assert table["v6.18.y"]["fixes"] == ["F4", "F9"]
    assert table["before-0943404b1f3b"]["lacks"] == ["e20dfbad8aab", "0943404b1f3b", "06e3f54e8b22"]
    assert "06e3f54e8b22" in table["v7.3"]["has"]
    assert table["before-97e719a82b43"]["lacks"][0] == "97e719a82b43" and "c09b0cd2cc6c" in table["v5.19"]["has"]
    assert {"909876500251", "f3412b3879b4"} <= set(table["before-f3412b3879b4"]["lacks"])
    assert tcpclose("kernels").returncode == 0


def test_bad_kernel_names_are_one_line() -> None:
    for args in (("check", "--kernel", "v9"), ("explore", "--kernel", "v9"), ("explore", "--config", "zcopy",
                                                                               "--kernel", "v9")):  # fmt: skip
        done = tcpclose(*args)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("tcpclose: unknown kernel 'v9'")


@settings(max_examples=20, database=None)
@given(initial_states(Focus(kernel="v6.17", close_path="close-new", defer="defer-v6", zcopy_check=None)))
def test_a_pinned_kernel_overrides_the_draw(state: object) -> None:
    """With Focus.kernel, every drawn state runs that kernel's switches, whatever else is pinned."""
    expect = KERNELS["v6.17"].config()
    for key in SWITCH_FIELDS:
        assert getattr(state.config, key) == getattr(expect, key)  # type: ignore[attr-defined]


@pytest.mark.parametrize("h", HISTORY, ids=lambda h: h.switch)
def test_history_explorer(h: History) -> None:
    """Per historical switch: the kernel right before it and the one with it differ by it alone,
    and the explorer, complete on the table's small configuration, meets exactly the known
    findings the table names on each (no other violation). A bug fixed long ago (the table names
    its invariant) is found on the kernel before the fix on its own: the explorer's shortest
    counterexample violates that invariant, in the table's number of steps, and no known
    finding's signature explains it."""
    before, after = KERNELS[h.before], KERNELS[h.after]
    related = {h.switch} | ({"5628f3fe3b16"} if h.switch == "844c9db7f7f5" else set())
    assert after.has - before.has == related and not before.has - after.has
    for name, want in ((h.before, h.findings_before), (h.after, h.findings_after)):
        result = explore(SMALL[h.config].build(kernel=name))
        if name == h.before and h.violation_before is not None:
            found = result.violation
            assert found is not None and found.invariant == h.violation_before, (name, result.summary())
            assert len(found.actions) == h.steps, (name, found.actions)
            continue
        assert result.complete and result.violation is None, (name, result.summary())
        assert sorted(fid for fid, _ in result.findings) == sorted(want), (name, result.summary())


def test_every_historical_bug_has_its_kernel_and_configuration() -> None:
    """Every switch the spec can take away has a HISTORY entry, and each fix of FACTS's history
    (the 2022 fixes, the 2025 revert) is one of them with the invariant its bug breaks."""
    takeable = {sid for sid, sw in SWITCHES.items() if sw.off is not None and not sw.candidate}
    assert {h.switch for h in HISTORY} | {"5628f3fe3b16"} == takeable
    bugs = {h.switch: h.violation_before for h in HISTORY if h.violation_before}
    assert set(bugs) == {"97e719a82b43", "c09b0cd2cc6c", "909876500251", "f3412b3879b4", "f278b6d5bb46"}
    for h in HISTORY:
        assert h.config in SMALL and KERNELS[h.before].config() != KERNELS[h.after].config()


def test_replay_header_names_the_fix_a_trace_lacks() -> None:
    """The timeline's header names each historical fix the configuration lacks, and nothing on
    a kernel with them all."""
    from properties.timeline import header

    assert "without" not in header(SMALL["recv-kick"].build(kernel="v5.19"))
    line = header(SMALL["recv-kick"].build(kernel="before-f3412b3879b4"))
    assert "without 909876500251" in line and "without f3412b3879b4" in line and "97e719a82b43" not in line


def test_timeline_tells_the_guardless_kick() -> None:
    """Without the guard, the timeline says at each kick whether the IPI descriptor was found
    unlocked (queued at the next step) or locked (-EBUSY): the IPI race's shortest trace shows
    both kickers finding it unlocked before either queues it."""
    from properties.timeline import rows
    from spec import step

    found = explore(SMALL["ipi-race"].build(kernel="before-97e719a82b43")).violation
    assert found is not None
    states = [found.initial]
    for a in found.actions:
        states.append(step(states[-1], a))
    notes = [r.step for r in rows(states, found.actions) if any("found unlocked" in c for c in r.changes)]
    assert len(notes) == 2 and notes[1] < len(found.actions) - 1, notes


def test_explore_kernel_option_names_the_finding(tmp_path: Path) -> None:
    done = tcpclose("explore", "--config", "zcopy", "--kernel", "v6.18")
    assert done.returncode == 0 and done.stdout.splitlines()[-1].endswith("known findings met: F9"), done.stdout
    done = tcpclose("explore", "--config", "zcopy", "--kernel", "v6.18.y")
    assert done.returncode == 0 and done.stdout.splitlines()[-1].endswith("known findings met: none"), done.stdout
    done = tcpclose("explore", "--skbs", "1", "--set", "recv=1448", "--set", "retransmit_fin=true",
                    "--set", "kernel=v6.17")  # fmt: skip
    assert done.returncode == 0 and done.stdout.splitlines()[-1].endswith("known findings met: F4"), done.stdout


@pytest.mark.parametrize(
    ("kernel", "seen", "unseen"),
    [
        # defer-v6 (844c9db7f7f5): the wedge machine finds F5; v6.18.0 has no zero-copy test: F9.
        ("v6.18", {"F5", "F9"}, set()),
        # defer-v2's fallbacks do not count: no F5.
        ("before-844c9db7f7f5", set(), {"F5"}),
        # The stable tree's zero-copy test: no F9.
        ("v6.18.y", {"F5"}, {"F9"}),
    ],
)
def test_check_kernel_on_the_wedge_machine(kernel: str, seen: set[str], unseen: set[str]) -> None:
    """``check --kernel`` under the ci profile: the machines draw only that kernel's switches; the
    known findings each kernel shows (and must not show) on the wedge machine."""
    report = checkrun.run_all(profile="ci", machines=["wedge"], kernel=kernel)
    assert report.ok, report.verdict_line()
    data = report.to_json()
    assert data["kernel"] == kernel and data["violations"] == []
    assert seen <= set(report.findings_seen) and not unseen & set(report.findings_seen), report.findings_seen


def test_race_machine_meets_its_race_on_a_close_old_kernel() -> None:
    """Expected: under close-old (v5.19) only recvmsg() defers, and the race machine's readers
    (``Focus.reader``) still bring a producer into a flush's window: ``check --kernel v5.19
    --machine race`` is green by reaching every required event, and shows F4 (the summed unread
    test) with no violation."""
    report = checkrun.run_all(profile="ci", machines=["race"], kernel="v5.19")
    assert report.ok, report.verdict_line()
    assert "F4" in report.findings_seen and report.to_json()["violations"] == []


def test_check_meets_the_max_1_bug_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engines of HISTORY: ``check --kernel before-c09b0cd2cc6c`` under the ci profile, on the
    first machine the table names (the close machine, about 10 s), fails with the bug's invariant
    and nothing else; the other check results are measured, not pinned (a full check takes
    minutes), and the explorer test above pins every bug."""
    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path))
    h = next(h for h in HISTORY if h.switch == "c09b0cd2cc6c")
    report = checkrun.run_all(profile="ci", machines=[h.check[0]], kernel=h.before)
    violations = report.to_json()["violations"]
    assert isinstance(violations, list) and not report.ok
    assert {v["invariant"] for v in violations} == {h.violation_before}, violations


def test_what_a_kernel_cannot_reach_is_not_required() -> None:
    """Expected: a defer-v2 kernel without the page-pool kick or the TX producer is not asked to
    take the count and reset steps (defer-v6's), the page-pool walk or the TX hand-off; a kernel
    without the candidate fixes is not asked for their steps; with them, no CPU goes down inside an
    attempt and no error-queue skb is left at destruction; without --kernel nothing is exempt."""
    assert coverage.unreachable_on("v6.17") == frozenset(coverage.NEEDS_SWITCH) - {
        "CPU offline in a producer's window",
        "pushed to an offline CPU",
        "socket destroyed with error-queue skbs",
    }
    assert coverage.unreachable_on("v7.3+fixes") == {"CPU offline in a producer's window", "pushed to an offline CPU",
                                                     "socket destroyed with error-queue skbs"}  # fmt: skip
    assert coverage.unreachable_on("v7.3") == {"fell back without counting", "error queue purged by close()",
                                               "error-queue skb refused after close()"}  # fmt: skip
    assert coverage.unreachable_on(None) == frozenset()
    assert coverage.unreachable_on("v6.18") == {"page pool kicked a CPU", "PagePoolRetry", "TX completion deferred",
                                                "NapiConsumeSkb"} | coverage.unreachable_on("v7.3")  # fmt: skip


@pytest.mark.parametrize(
    ("switches", "message"),
    [
        ({"tx": ((0, 1),), "ipi_guard": False}, "napi_consume_skb.*needs the IPI guard"),
        ({"tx": ((0, 1),), "flush_before_poll": False}, "needs the flush before each poll"),
        ({"page_pool": True, "ipi_guard": False}, "page pool's kick.*needs the IPI guard"),
        ({"v2_kick_count": "after"}, "defer-v2 kernel's"),
    ],
)
def test_switches_no_kernel_combines_are_refused_at_boot(switches: dict[str, object], message: str) -> None:
    """Switches of commits years apart that no kernel has together (a later producer without an
    earlier fix it relies on) are refused in one line, never run: the spec's steps assume them."""
    from model.small import small

    with pytest.raises(SpecError, match=message):
        small(skbs=1, **switches)  # type: ignore[arg-type]
