"""The evidence for the candidate fixes of the findings (issue 12, part 3).

Each candidate fix is a switch of model/kernels.py (``fix-*``), and each has a kernel of its own,
``v7.3+<fix>`` (v7.3 with that fix and the fixes it needs), beside ``v7.3+fixes`` (every chosen
fix). ``EVIDENCE`` says, per such kernel, what the exhaustive explorer (properties/explorer.py)
found on the small configurations of model/small.py that show the findings: each search complete,
its distinct states on the fixed kernel, and the known findings met on v7.3 and on the fixed
kernel. A finding met on v7.3 and not with the fix is one the fix removes there; one still met
is evidence that the candidate does not fix it. tests/test_fixes.py re-runs every search and
pins these figures; benchmarks/fixes.py prints them with each fix's cost (model/fix_costs.py).
"""

from __future__ import annotations

import attrs

from model.kernels import KERNELS, SWITCHES


@attrs.frozen
class Explored:
    """One complete search: ``config`` (a name of model/small.py SMALL), the distinct states on
    the fixed kernel, and the known findings met on v7.3 (``before``) and on it (``after``)."""

    config: str
    states: int
    before: tuple[str, ...]
    after: tuple[str, ...]


@attrs.frozen
class FixEvidence:
    """What the explorer shows for one fixed kernel (a name of model/kernels.py KERNELS)."""

    kernel: str
    runs: tuple[Explored, ...]

    @property
    def switches(self) -> list[str]:
        """The candidate fixes this kernel has."""
        return [s for s in KERNELS[self.kernel].has if SWITCHES[s].candidate]

    @property
    def removes(self) -> list[str]:
        """Findings met on v7.3 in some run and with the fix in none."""
        before = {f for r in self.runs for f in r.before}
        after = {f for r in self.runs for f in r.after}
        return sorted(before - after, key=lambda f: int(f[1:]))

    @property
    def introduces(self) -> list[str]:
        """Findings met with the fix on a configuration where v7.3 does not meet them."""
        return sorted({f for r in self.runs for f in r.after if f not in r.before}, key=lambda f: int(f[1:]))

    @property
    def still(self) -> list[str]:
        """Findings still met with the fix."""
        return sorted({f for r in self.runs for f in r.after}, key=lambda f: int(f[1:]))

    def words(self) -> str:
        """One line: each configuration explored, its states, the findings before and after."""
        parts = []
        for r in self.runs:
            before = ", ".join(r.before) or "none"
            after = ", ".join(r.after) or "none"
            parts.append(f"{r.config} ({r.states:,} states): {before} -> {after}")
        return "; ".join(parts)


def _e(kernel: str, *runs: tuple[str, int, tuple[str, ...], tuple[str, ...]]) -> FixEvidence:
    return FixEvidence(kernel, tuple(Explored(*r) for r in runs))


_F723 = ("F2", "F3", "F7")

EVIDENCE: dict[str, FixEvidence] = {
    e.kernel: e
    for e in (
        _e("v7.3+fix-F5-test-before-increment", ("wedge", 203, ("F5",), ()), ("wedge-race", 742, ("F5",), ("F5",))),
        _e("v7.3+fix-F5-increment-below-max", ("wedge", 215, ("F5",), ()), ("wedge-race", 706, ("F5",), ()),
           ("acceptance", 4305, _F723, _F723)),
        _e("v7.3+fix-F7-defer-preempt-off", ("acceptance", 1610, _F723, ()), ("page-pool", 2470, _F723, ("F2",))),
        _e("v7.3+fix-F2-page-pool-cpus-read-lock", ("page-pool", 1761, _F723, ()), ("acceptance", 1610, _F723, ())),
        _e("v7.3+fix-F1-purge-errqueue", ("errqueue", 23, ("F1",), ("F1",))),
        _e("v7.3+fix-F1-errqueue-closed", ("errqueue", 24, ("F1",), ())),
        _e("v7.3+fix-F6-detach-before-reset", ("reset-window", 35488, ("F6",), ())),
        _e("v7.3+fix-F6-flush-resets-empty", ("reset-window", 92944, ("F6",), ("F6",))),
        # F11: the flush subtracts what it detached, so an attempt counted before the detach and
        # pushed after it stays counted (below the new epoch's kick point). It leaves F8 and F10.
        _e("v7.3+fix-F11-flush-subtracts-detached", ("straggler", 322, ("F11",), ()),
           ("sysctl-mid-epoch", 417, ("F8",), ("F8",)), ("sysctl-skip", 669, ("F10", "F11"), ("F10",)),
           ("reset-window", 32128, ("F6",), ()), ("larger-skbs", 25699, ("F2", "F3", "F6", "F7"), _F723)),
        # F8/F10: the kick claimed with the count, at or past half capacity, once per epoch; with the
        # flush's reset instead of fix-F11's subtraction it leaves the straggler unkicked (the dilemma:
        # tests/test_fixes.py), so its kernel has fix-F11.
        _e("v7.3+fix-F8-kick-once-per-epoch", ("sysctl-mid-epoch", 334, ("F8",), ()),
           ("sysctl-skip", 685, ("F10", "F11"), ()), ("straggler", 322, ("F11",), ())),
        _e(
            "v7.3+fixes",
            ("acceptance", 1926, _F723, ()),
            ("larger-skbs", 9097, ("F2", "F3", "F6", "F7"), ()),
            ("larger-cpus", 3072, _F723, ()),
            ("wedge", 236, ("F5",), ()),
            ("wedge-race", 956, ("F5",), ()),
            ("page-pool", 2164, _F723, ()),
            ("errqueue", 24, ("F1",), ()),
            ("reset-window", 42100, ("F6",), ()),
            ("sysctl-mid-epoch", 392, ("F8",), ()),
            ("sysctl-skip", 777, ("F10", "F11"), ()),
            ("straggler", 358, ("F11",), ()),
        ),
    )
}  # fmt: skip


def evidence_for(switch: str) -> FixEvidence | None:
    """The evidence of a candidate fix: its own kernel's."""
    return EVIDENCE.get(f"v7.3+{switch}")
