"""The spec's side of ``tcpclose probe`` (live/probe.py runs it on the kernel): the prediction
for the probe's workload, and the statistics that hold a row of measurements against it.

The prediction is the spec's: the same workload (N sockets x K skbs built on A, closed on B,
``skb_defer_max`` d) run to quiescence twice, once with every IPI delivered at once and once
with every IPI late (after the closes): the IPIs the v6.18 rules allow lie between the two.

Time is compared with the paired ``skb_defer_max`` 0 trials of the same repetitions. How much
two identical measurements differ here (the noise) is measured, not assumed: the spread of the
max-0 trials' medians across repetitions. A direction (cheaper or dearer than max 0) is claimed
only with enough repetitions to see that spread, when every repetition points the same way and
the median change is outside it; otherwise the row says "inconclusive".
"""

from __future__ import annotations

import math
import statistics
from typing import Literal

import attrs

from model.metrics import measure
from model.scenarios import socket as spec_socket
from model.scheduler import run
from spec import Config, Incoming, IpiDeliver, PurgeStep, State, UserOp, boot

SEGMENT = 1000
MIN_REPS = 3  # fewer repetitions cannot show how much a measurement moves by itself
NOISE_FLOOR = 0.05  # a change under 5% is never claimed, however still the machine was

Direction = Literal["cheaper", "dearer", "same", "inconclusive"]


@attrs.frozen
class Trial:
    defer_max: int
    skbs: int  # skbs closed (verified before the closes)
    net_rx: int  # NET_RX runs on CPU A around the closes
    cal: int  # function-call interrupts on CPU A
    ipis: int | None  # defer IPIs queued to A (None: no tracefs)
    close_ns: tuple[int, ...]  # close() wall time per socket
    purge_ns: tuple[int, ...] = ()  # close() entry to TCP_CLOSE per socket (traced; empty without tracefs)

    @property
    def median_close_ns(self) -> float:
        return statistics.median(self.close_ns) if self.close_ns else float("nan")


@attrs.frozen
class Prediction:
    ipis_min: int  # every IPI after the closes: the fewest
    ipis_max: int  # every IPI and flush before the next skb: a new epoch each time, the most
    deferred: int  # skbs handed to A's slot (eager schedule)
    fallbacks: int
    close_ns: float  # the cost model's close() time for the whole workload (VM profile)
    ipis_fair: int  # IPIs in the fair run the close time comes from


def predict(sockets: int, sends: int, defer_max: int, carried_count: int = 0) -> Prediction:
    """The spec's run of the same workload on a 2-CPU, 1-node machine (A is CPU 0, B CPU 1),
    with A's slot starting at ``carried_count`` and an empty list."""
    packets = [Incoming(cpu=0, length=SEGMENT, truesize=2304) for _ in range(sends)]
    socks = [spec_socket(i, packets, [UserOp("close", 1)]) for i in range(sockets)]
    state = boot(Config(), (0, 0), defer_max, socks)
    if carried_count:
        state = _with_count(state, carried_count)
    counts = []
    # Every IPI and flush before the next skb (the most epochs), or every IPI after the closes.
    for slow in ((PurgeStep,), (IpiDeliver,)):
        result = run(state, slow=slow)
        ipis = sum(
            1 for pre, post in zip(result.states, result.states[1:], strict=False)
            if post.cpus[0].ipi_queued > pre.cpus[0].ipi_queued
        )  # fmt: skip
        counts.append(ipis)
    fair = run(state)
    frees = [f.how for skb in fair.final.skbs for f in skb.frees]
    deferred = sum(1 for skb in fair.final.skbs if skb.deferred is not None)
    # This machine is a KVM guest without IPI virtualisation: the cost profile that says so.
    close_ns = sum(measure(fair, "intel-2s-vm").close_ns)
    ipis_fair = sum(1 for a in fair.actions if isinstance(a, IpiDeliver))
    return Prediction(min(counts), max(counts), deferred, frees.count("nodefer:full"), close_ns, ipis_fair)


def _with_count(state: State, count: int) -> State:
    """A booted state whose CPU 0 slot for node 0 starts at ``count`` (carried from an earlier
    trial whose list was flushed empty)."""
    cpu0 = state.cpus[0]
    slot = attrs.evolve(cpu0.defer_slots[0], defer_count=count)
    cpus = (attrs.evolve(cpu0, defer_slots=(slot, *cpu0.defer_slots[1:])), *state.cpus[1:])
    return attrs.evolve(state, cpus=cpus)


@attrs.frozen
class Row:
    """One ``skb_defer_max`` value: its trials and the paired max-0 trials (``trials[i]`` and
    ``baseline[i]`` come from repetition i), with the spec's prediction for both."""

    defer_max: int
    trials: tuple[Trial, ...]
    baseline: tuple[Trial, ...]  # the paired skb_defer_max 0 trials
    prediction: Prediction
    baseline_prediction: Prediction  # the same workload at skb_defer_max 0

    def median_purge_ns(self) -> float:
        purges = [t for tr in self.trials for t in tr.purge_ns]
        return statistics.median(purges) if purges else float("nan")

    def median_close_ns(self, of: tuple[Trial, ...]) -> float:
        return statistics.median(t for tr in of for t in tr.close_ns) if of else float("nan")

    @property
    def ipis(self) -> list[int]:
        return [t.ipis if t.ipis is not None else t.net_rx for t in self.trials]

    @property
    def agrees(self) -> bool:
        return all(self.prediction.ipis_min <= n <= self.prediction.ipis_max for n in self.ipis)

    @property
    def ratios(self) -> list[float]:
        """close() median against the same repetition's max-0 median, per repetition."""
        return [
            t.median_close_ns / b.median_close_ns
            for t, b in zip(self.trials, self.baseline, strict=False)
            if b.median_close_ns > 0
        ]

    @property
    def measured_ratio(self) -> float:
        ratios = self.ratios
        return statistics.median(ratios) if ratios else float("nan")

    @property
    def noise(self) -> float:
        """How far one max-0 measurement strays from another here: the spread of the max-0
        medians across repetitions, relative to their median (at least NOISE_FLOOR); NaN with
        fewer than MIN_REPS repetitions."""
        base = [b.median_close_ns for b in self.baseline if b.close_ns]
        if len(base) < MIN_REPS:
            return float("nan")
        return max(NOISE_FLOOR, (max(base) - min(base)) / statistics.median(base))

    @property
    def predicted_ratio(self) -> float:
        base = self.baseline_prediction.close_ns
        return self.prediction.close_ns / base if base else float("nan")

    @property
    def predicted_direction(self) -> Direction:
        """The cost model's direction; "same" when the spec runs this maximum as it runs 0, or the
        model's difference is below what any measurement here can resolve (NOISE_FLOOR)."""
        if self.prediction == self.baseline_prediction or abs(self.predicted_ratio - 1) < NOISE_FLOOR:
            return "same"
        return "cheaper" if self.predicted_ratio < 1 else "dearer"

    @property
    def measured_direction(self) -> Direction:
        """A direction only when every repetition points the same way and the median change is
        outside the measured noise; otherwise "inconclusive"."""
        ratios, noise = self.ratios, self.noise
        if math.isnan(noise) or len(ratios) < MIN_REPS or abs(self.measured_ratio - 1) <= noise:
            return "inconclusive"
        if all(r < 1 for r in ratios):
            return "cheaper"
        if all(r > 1 for r in ratios):
            return "dearer"
        return "inconclusive"

    @property
    def direction_agrees(self) -> bool | None:
        """None when the measurement is inconclusive; else whether it matches the cost model."""
        measured = self.measured_direction
        if measured == "inconclusive":
            return None
        return measured == self.predicted_direction

    def disagreement(self) -> str | None:
        """Why measurement and model part, in terms of this row; None when they agree."""
        why = []
        low = [n for n in self.ipis if n < self.prediction.ipis_min]
        high = [n for n in self.ipis if n > self.prediction.ipis_max]
        if low:
            why.append(
                f"skb_defer_max {self.defer_max}: fewer IPIs ({low}) than the rules allow "
                f"({self.prediction.ipis_min}-{self.prediction.ipis_max}): NET_RX from other traffic on A flushed "
                "before the kick point, or A's slot was wedged (F5)"
            )
        if high:
            why.append(
                f"skb_defer_max {self.defer_max}: more IPIs ({high}) than the rules allow "
                f"({self.prediction.ipis_min}-{self.prediction.ipis_max}) for one slot: another producer deferred "
                "to A during the trial"
            )
        if self.direction_agrees is False:
            measured = (
                f"measured {self.measured_ratio:.2f}x the max-0 close (per repetition "
                f"{', '.join(f'{r:.2f}' for r in self.ratios)}; noise ±{self.noise:.0%})"
            )
            if self.predicted_direction == "same":
                how = (
                    f"exactly as max 0 (every skb falls back, {self.prediction.ipis_max} IPIs)"
                    if self.prediction == self.baseline_prediction
                    else f"within {NOISE_FLOOR:.0%} of max 0 ({self.prediction.deferred} skb(s) handed off, "
                    f"{self.prediction.ipis_max} IPIs at most)"
                )
                why.append(
                    f"skb_defer_max {self.defer_max}: the spec runs this maximum {how}, so close() should cost "
                    f"the same; {measured}: the difference comes from outside the model (the trials' order, cache "
                    "or allocator state)"
                )
            elif self.predicted_direction == "dearer":
                why.append(
                    f"skb_defer_max {self.defer_max}: the cost model says close() costs {self.predicted_ratio:.2f}x "
                    f"the max-0 close ({self.prediction.ipis_fair} IPI(s) charged at the VM profile's send cost); "
                    f"{measured}: sending an IPI costs the closing CPU less here than the profile's VM exit"
                )
            else:
                why.append(
                    f"skb_defer_max {self.defer_max}: the cost model says close() costs {self.predicted_ratio:.2f}x "
                    f"the max-0 close ({self.prediction.deferred} skb(s) handed off instead of freed); {measured}: "
                    "the hand-off costs the closing CPU more here than the profile says"
                )
        return "; ".join(why) or None
