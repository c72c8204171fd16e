"""A finding's dossier: everything a report upstream needs, computed from the code so that it
cannot go stale (``tcpclose findings``, ``docs/findings/Fn.md``).

Per finding: the promise it breaks (the invariant and, where it states one, the user's promise),
its mechanism and impact in words (``DETAILS``), the named kernels where its pinned trace
reproduces it (each trace replayed with the kernel's switches over the trace's own
configuration), that trace as a timeline, live evidence where the live kernel showed it, and the
candidate fixes: the switches of model/kernels.py that remove it, each with its own evidence (the
pinned trace replayed with the fix no longer shows the finding) and the fixed kernel's.

The prose here is ours, written from FACTS and the spec; the verdicts, kernels, traces and
fixes are recomputed on every call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from model.fixes import evidence_for
from model.kernels import HISTORY, KERNELS, SWITCHES, Kernel
from model.scenarios import socket
from model.scheduler import replay
from properties import timeline
from properties.checker import Verdict, check_run
from properties.coverage import REQUIRED
from properties.findings import FINDINGS, f2_page_pool
from properties.invariants import PROMISES, REGISTRY
from properties.report import kernel_words
from spec import (
    Action,
    CloseDecide,
    CloseStart,
    Config,
    CpuOffline,
    CpuOnline,
    DeferCheck,
    DeferCount,
    DeferKick,
    DeferPush,
    DeferRead,
    DevCpuDead,
    Env,
    ErrQueueCharge,
    Incoming,
    PacketArrives,
    PurgeStep,
    RecvCopy,
    RecvEnd,
    RecvStart,
    SetDeferMax,
    SpecError,
    State,
    UserOp,
    boot,
    enabled,
    step,
)

Build = Callable[[], tuple[State, list[Action]]]


@attrs.frozen
class Details:
    """What the code cannot compute: the mechanism and impact in words, the conditions it needs
    beyond the kernel's switches (preemption model, sysctl writes), what the live kernel showed
    (empty: nothing yet), and other traces of the same finding for kernels the first one does
    not fit (a defer-v2 kernel has no separate count step)."""

    mechanism: str
    impact: str
    conditions: str
    live: str = ""
    variants: tuple[tuple[str, Build], ...] = ()


def _recv_race(kick: bool, back_online: bool) -> tuple[State, list[Action]]:
    """The offline race through recvmsg(), which eats skbs with tcp_eat_recv_skb() on every
    kernel since 68822bdf76f1, close-old kernels among them: the reader on CPU 1 is preempted
    between the second skb's online check and its push while CPU 0 goes down; with ``kick``
    (skb_defer_max 3) that push kicks, and with ``back_online`` CPU 0 returns."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304) for _ in range(2)]
    sock = socket(0, packets, [UserOp("recv", 1, 2896)])
    state = boot(Config(), (0, 0), 3 if kick else 64, [sock], Env(offlines=1))
    actions: list[Action] = [PacketArrives(0), PacketArrives(0), RecvStart(0)]
    actions += [RecvCopy(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    actions += [RecvCopy(0), DeferCheck(0), CpuOffline(0), DevCpuDead(0), DeferRead(0), DeferCount(0), DeferPush(0)]
    return state, [*actions, *([DeferKick(0)] if kick else []), RecvEnd(0), *([CpuOnline(0)] if back_online else [])]


def _errqueue_close(charge_first: bool) -> tuple[State, list[Action]]:
    """F1 on kernels whose close() purges the error queue (fix-F1-purge-errqueue: one more
    PurgeStep, which other kernels do not take): the error-queue skb is charged before close()
    (``charge_first``: the purge takes it) or after the purge, before the decision (the race the
    purge alone leaves)."""
    sock = socket(0, [Incoming(cpu=0, length=0, truesize=768, errqueue=True)], [UserOp("close", 1)])
    state = boot(Config(close_purges_errqueue=True), (0, 0), 64, [sock])
    if charge_first:
        return state, [ErrQueueCharge(0), CloseStart(0), PurgeStep(0), CloseDecide(0)]
    return state, [CloseStart(0), PurgeStep(0), ErrQueueCharge(0), CloseDecide(0)]


DETAILS: dict[str, Details] = {
    "F1": Details(
        mechanism=(
            "__tcp_close() purges the receive queue only. An skb on the error queue (a transmit timestamp or a "
            "zero-copy completion, charged by sock_queue_err_skb() without the socket lock) stays charged to "
            "sk_rmem_alloc through the RST/FIN decision and until inet_sock_destruct() purges the error queue. "
            "So \"after the purge, accounting is final\" does not hold at the decision; it does hold at "
            "destruction (invariant rmem_zero_at_destruction)."
        ),
        impact=(
            "Accounting only: sk_rmem_alloc reads non-zero after the purge for as long as the socket lives "
            "(an orphaned socket in FIN_WAIT or TIME_WAIT keeps the charge); a reader of SO_MEMINFO or "
            "ss -m sees memory the close did not release. No skb is lost and destruction balances."
        ),
        conditions="every kernel and every preemption model; needs an error-queue skb charged before the decision",
        variants=(("error queue purged by close", lambda: _errqueue_close(True)),
                  ("charged after the purge", lambda: _errqueue_close(False))),
    ),
    "F2": Details(
        mechanism=(
            "A kicker (a producer in skb_attempt_defer_free() in process context, or page_pool_release_retry() "
            "walking the online CPUs) passes its online test for CPU c and is preempted; c goes offline "
            "under stop_machine(); the kicker resumes and kick_defer_list_purge() claims c's "
            "defer_ipi_scheduled (0 -> 1) and asks smp_call_function_single_async() for the IPI, which fails "
            "with -ENXIO because c is offline. Nothing clears the flag: the IPI handler never runs and "
            "dev_cpu_dead() does not reset it. When c comes back, every later kick finds the flag set and "
            "sends nothing."
        ),
        impact=(
            "After one unlucky CPU offline, the CPU's defer lists are never kicked again until the next "
            "reboot: skbs deferred to it wait until NET_RX runs there for another reason (a packet arriving "
            "on it, other traffic), however many are queued. On a CPU with no network interrupts (isolated, "
            "or housekeeping), the defer lists hold up to skb_defer_max skbs per node slot, with their pages, "
            "indefinitely."
        ),
        conditions=(
            "full preemption only (CONFIG_PREEMPT or PREEMPT_DYNAMIC full/lazy): stop_machine() cannot stop a "
            "task inside a non-preemptible section, so under none or voluntary the window does not exist; "
            "needs a CPU to go offline (and return) while a process-context kicker sits between its online "
            "test and its kick"
        ),
        variants=(("page pool walk", f2_page_pool), ("recvmsg", lambda: _recv_race(kick=True, back_online=True))),
    ),
    "F3": Details(
        mechanism=(
            "With the hotplug flush (06e3f54e8b22: dev_cpu_dead() empties the dead CPU's slots; its mechanics "
            "are assumed), a producer that passed its online test for CPU c and was preempted pushes onto c's "
            "slot after dev_cpu_dead() has emptied it. The skb waits on the dead CPU's slot until c returns "
            "and runs NET_RX: the fix's promise, that a dead CPU's slots are emptied, is broken by one skb per "
            "preempted producer."
        ),
        impact=(
            "An skb (and its pages) stranded for as long as the CPU stays offline, which for a CPU taken "
            "down for power or isolation can be indefinite; bounded by the number of producers preempted in "
            "the window, so a leak of a few skbs, not a growth."
        ),
        conditions="full preemption only (as F2); kernels with the hotplug flush; defer-v6 and defer-v2 alike",
        variants=(("recvmsg", lambda: _recv_race(kick=False, back_online=False)),),
    ),
    "F4": Details(
        mechanism=(
            "Before 5f9238530970, __tcp_close() decided whether unread data was lost by summing "
            "end_seq - seq - fin over the receive queue. A retransmission of data the application had "
            "already read, arriving with a FIN, has a non-zero sum though nothing in it is unread, so the "
            "close sends a RST instead of a FIN and counts TCPABORTONCLOSE."
        ),
        impact=(
            "A spurious RST to a peer whose data was all read: the peer sees a reset connection instead of an "
            "orderly close (packetdrill tcp_close_no_rst.pkt). Fixed upstream by 5f9238530970."
        ),
        conditions="kernels before 5f9238530970 (v6.17 and older); every preemption model",
    ),
    "F5": Details(
        mechanism=(
            "On defer-v6 kernels skb_attempt_defer_free() increments the slot's defer_count before testing it "
            "against skb_defer_max, and a fallback does not undo the increment. While skb_defer_max is 0 (or "
            "below the count) every attempt falls back and still counts; the list stays empty; and "
            "skb_defer_free_flush() skips an empty list without resetting its count. When the sysctl is "
            "raised again to any value not above the count, every later attempt to that (CPU, node) slot "
            "counts past the maximum and falls back: deferral to that CPU stays off."
        ),
        impact=(
            "After skb_defer_max is lowered (to 0, to switch deferral off, as an administrator or a test "
            "might) and raised back, deferral to the affected CPUs silently stays off until the sysctl is "
            "set above the stranded count: every remote free falls back to a local free, the cross-CPU slab "
            "traffic that deferral was built to avoid (68822bdf76f1's 47% gain) comes back, with no counter "
            "to show it."
        ),
        conditions="defer-v6 kernels (v6.18 on), every preemption model; needs a write of skb_defer_max",
        live=(
            "Seen on this project's test machine (Linux 6.18, tcpclose probe and tcpclose live): after one close "
            "with skb_defer_max 0, closes with maxima 3, 16, 64 and 128 sent no kick to the owning CPU until "
            "one close ran with a maximum above the count; tcpclose live's wedge probe agrees with the spec on "
            "every generated workload."
        ),
    ),
    "F6": Details(
        mechanism=(
            "The over-estimate of FACTS §9 taken to its end. skb_defer_free_flush() resets defer_count and "
            "then detaches the list. Producers on other CPUs that count between the reset and the detach push "
            "skbs the detach takes along: with a maximum m, m - 1 such attempts leave the count at m - 1 on an "
            "empty list. The next attempt counts m and falls back, and from then on the slot is wedged as in "
            "F5, since a flush never resets the count of an empty list."
        ),
        impact=(
            "As F5 without any administrator action, but it needs m - 1 producers inside one flush's "
            "reset-to-detach window: 1 at skb_defer_max 2, 63 at v6.18's default 64, 127 at v6.19's 128. "
            "Improbable at the defaults, final once reached."
        ),
        conditions="defer-v6 kernels, every preemption model; producers on other CPUs than the flushing one",
    ),
    "F7": Details(
        mechanism=(
            "skb_attempt_defer_free() tests cpu_online() and pushes in separate steps. A process-context "
            "producer preempted between them pushes onto the slot of a CPU that went offline meanwhile. The "
            "kernel guarantees only that the target was online at the test (which the spec's "
            "defer_check_sees_online holds); \"an offline CPU is never deferred to\" does not hold at slot "
            "level."
        ),
        impact=(
            "Without the hotplug flush, the skb waits until the CPU returns, as any skb on its slots (the "
            "behaviour 68822bdf76f1 chose); with it, this is F3."
        ),
        conditions="full preemption only (as F2); defer-v6 and defer-v2 alike",
        variants=(("recvmsg", lambda: _recv_race(kick=False, back_online=False)),),
    ),
    "F8": Details(
        variants=(("recvmsg", lambda: _recv_eats(3, write=4)),),
        mechanism=(
            "Each attempt kicks when its count reaches the kick point of the skb_defer_max it read "
            "(defer-v6: count == max / 2 + 1). A sysctl write between two attempts of one slot epoch moves "
            "the kick point past the count already reached: from 3 to 4, counts 2 and 3 both kick."
        ),
        impact=(
            "At most one extra kick per write of the sysctl: the IPI guard keeps it to one IPI in flight, so "
            "the cost is one extra IPI and NET_RX run. Harmless, but \"exactly one kick per half-capacity "
            "crossing\" is not what the kernel does."
        ),
        conditions="every kernel and preemption model; needs a write of skb_defer_max mid-epoch",
    ),
    "F11": Details(
        mechanism=(
            "skb_attempt_defer_free() counts, then pushes; skb_defer_free_flush() resets the count, then detaches "
            "the list (FACTS §9). An attempt that counts after its slot epoch's kick (count max/2 + 2 or more, "
            "still below the maximum) and before the flush's reset, and pushes after the flush's detach, puts its "
            "skb on the new list past the kick point, where the reset has started a new epoch: no kick is owed "
            "for it until max/2 + 1 more pushes (the uncounted skb of FACTS §9)."
        ),
        impact=(
            "One skb per such attempt waits for unrelated NET_RX on the owning CPU (or for the next epoch's "
            "kick), which FACTS §12 allows only below the kick point; on a CPU with no other traffic and no "
            "further frees, indefinitely. Needs skb_defer_max 6 or more (v6.18's 64 and v6.19's 128 qualify) and "
            "a producer on another CPU inside the flush's window."
        ),
        conditions=(
            "defer-v6 kernels, every preemption model, no sysctl write; found by the explorer (skb_defer_max 6, "
            "one socket of six unread skbs): the state machines draw skb_defer_max up to 4 only"
        ),
    ),
    "F9": Details(
        variants=(("recvmsg", lambda: _recv_eats(1, zcopy=True)),),
        mechanism=(
            "Without the zero-copy test of 0943404b1f3b, skb_attempt_defer_free() defers a zero-copy skb with "
            "its user buffer (ubuf_info) still attached. Below the kick point nothing wakes the owning CPU, "
            "so the skb can wait indefinitely while it pins the user's pages (FACTS §11)."
        ),
        impact=(
            "A zero-copy sender's completion notification and its pinned pages wait for unrelated NET_RX on "
            "another CPU: the application cannot reuse its buffer. Fixed upstream by 0943404b1f3b (stable)."
        ),
        conditions="kernels without 0943404b1f3b (v6.18.0, v6.19.0); every preemption model",
    ),
    "F10": Details(
        mechanism=(
            "The other face of F8. Each attempt tests the kick point of the maximum it read, so writes of "
            "skb_defer_max between the attempts of one epoch can make every attempt miss it: on defer-v2 "
            "with 3 -> 4 -> 3, the push whose count before it is 1 read 4 (kick point 2) and the one whose "
            "count before it is 2 read 3 (kick point 1). The slot then holds skbs past the kick point of "
            "their own maximum and no kick is owed."
        ),
        impact=(
            "Skbs past the kick point wait for unrelated NET_RX on the owning CPU, which FACTS §12 allows only "
            "below it; until the next push that hits a kick point. Needs writes inside one epoch: two in the "
            "pinned defer-v2 trace; on defer-v6 one that moves the kick point below the count already reached "
            "suffices."
        ),
        conditions=(
            "every kernel and preemption model; the pinned trace is defer-v2; on defer-v6 the explorer meets it "
            "with one write of skb_defer_max from 10 to 6 after four pushes (`--config sysctl-skip`: counts 1-4 "
            "read 10, kick point 6; count 5 reads 6, kick point 4)"
        ),
    ),
}  # fmt: skip


SHOWS = {True: "yes", False: "not by these traces", None: "not expressible"}


@attrs.frozen
class KernelResult:
    """What a finding's pinned traces do on one named kernel: ``shows`` True (the finding is
    reproduced), False (the traces run and do not show it), None (no trace fits the kernel);
    ``how`` says which trace, or why none fits; ``unexplained`` names an invariant failure no
    known finding explains (never expected: a trace should show its finding or hold)."""

    kernel: str
    shows: bool | None
    how: str
    unexplained: str | None = None


@attrs.frozen
class FixResult:
    """A switch that removes the finding: its trace replayed on the kernel with every one of
    the finding's kernels' switches but with this fix on (``clean``: the finding no longer
    shows and nothing else fails)."""

    switch: str
    title: str
    what: str
    kernel: str
    clean: bool
    verdict: str
    # A candidate fix (model/kernels.py "fix-*"): whether its switch claims the finding (else it
    # was only tried against it), and the explorer's evidence (model/fixes.py EVIDENCE).
    claimed: bool = True
    evidence: str = ""


@attrs.frozen
class Dossier:
    id: str
    title: str
    invariant: str
    invariant_doc: str
    promise: str | None
    details: Details
    signature: str
    kernels: tuple[KernelResult, ...]
    trace: tuple[State, tuple[Action, ...]]
    verdict: Verdict
    fixes: tuple[FixResult, ...]
    found_by: tuple[str, ...]

    @property
    def reproduces_on(self) -> list[str]:
        return [k.kernel for k in self.kernels if k.shows]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "promise": {"invariant": self.invariant, "doc": self.invariant_doc, "user": self.promise},
            "mechanism": self.details.mechanism,
            "impact": self.details.impact,
            "conditions": self.details.conditions,
            "signature": self.signature,
            "kernels": [attrs.asdict(k) for k in self.kernels],
            "reproduces_on": self.reproduces_on,
            "trace": {
                "steps": len(self.trace[1]),
                "timeline": [attrs.asdict(r) for r in timeline.rows(replay(*self.trace), self.trace[1])],
                "verdict": _verdict_words(self.verdict, self.id),
            },
            "live": self.details.live or None,
            "fixes": [attrs.asdict(f) for f in self.fixes],
            "found_by": list(self.found_by),
        }


def _verdict_words(v: Verdict, fid: str) -> str:
    if not v.holds:
        return f"{v.invariant} fails at step {v.step}: {kernel_words(v.message)} (no known finding explains it)"
    if fid in v.findings:
        where = "at quiescence after step" if v.quiescent else "at step"
        return f"{FINDINGS[fid].invariant} is broken {where} {v.step}, recognised as {fid}"
    return "holds: the finding does not show"


def on_kernel(initial: State, k: Kernel) -> State:
    """The trace's initial state with ``k``'s switches over its own configuration (the trace's
    other choices, the preemption model among them, stay)."""
    config = attrs.evolve(initial.config, napi_cache_size=k.napi_cache_size, **k.switches())  # type: ignore[arg-type]
    return attrs.evolve(initial, config=config)


def _recv_eats(n: int, *, zcopy: bool = False, write: int | None = None) -> tuple[State, list[Action]]:
    """recvmsg() on CPU 1 eats ``n`` skbs built on CPU 0, each handed to skb_attempt_defer_free()
    (skb_defer_max 3, kicks where the rules say); with ``write``, skb_defer_max is written to
    that value after the second. The close-based traces' counterpart for close-old kernels,
    whose recvmsg() defers as close-new's does."""
    packets = [Incoming(cpu=0, length=1448, truesize=2304, zcopy=zcopy) for _ in range(n)]
    env = Env() if write is None else Env(defer_max_values=(write,), defer_max_writes=1)
    state = boot(Config(), (0, 0), 3, [socket(0, packets, [UserOp("recv", 1, 1448 * n)])], env)
    actions: list[Action] = [PacketArrives(0)] * n + [RecvStart(0)]
    for i in range(n):
        actions += [RecvCopy(0), DeferCheck(0), DeferRead(0), DeferCount(0), DeferPush(0), DeferKick(0)]
        if i == 1 and write is not None:
            actions.append(SetDeferMax(write))
    return state, actions


def _traces(fid: str) -> list[tuple[str, Build]]:
    return [("pinned", FINDINGS[fid].build), *DETAILS[fid].variants]


def _fitted(initial: State, actions: Sequence[Action]) -> tuple[list[Action], int]:
    """The trace as far as the kernel follows it: each step it cannot take where the trace
    takes it is skipped (a defer-v2 producer has no separate count step, a close-old purge no
    skb_attempt_defer_free() steps, the zero-copy test frees an skb the trace defers); the
    steps kept and how many were skipped."""
    kept: list[Action] = []
    state = initial
    for a in actions:
        if a in enabled(state):
            kept.append(a)
            state = step(state, a)
    return kept, len(actions) - len(kept)


def _replay(fid: str, k: Kernel) -> KernelResult:
    """Every trace of the finding on ``k``: it shows when one of them shows it."""
    shown: list[str] = []
    ran: list[str] = []
    misfits: list[str] = []
    unexplained = None
    for name, build in _traces(fid):
        initial, actions = build()
        try:
            start = on_kernel(initial, k)
        except SpecError as err:
            misfits.append(f"{name} trace: {err}")
            continue
        kept, skipped = _fitted(start, actions)
        verdict = check_run(start, kept)
        label = f"{name} trace" + (f" ({skipped} step(s) this kernel does not take skipped)" if skipped else "")
        (shown if fid in verdict.findings else ran).append(label)
        if not verdict.holds:
            unexplained = unexplained or verdict.invariant
    if shown:
        return KernelResult(k.name, True, ", ".join(shown), unexplained)
    if ran:
        return KernelResult(k.name, False, ", ".join(ran) + " ran without it", unexplained)
    return KernelResult(k.name, None, "; ".join(misfits))


def _fixes(fid: str, kernels: Sequence[KernelResult]) -> list[FixResult]:
    """Each switch whose ``fixes`` names ``fid`` (or, for a candidate fix, whose ``tried`` does),
    tried on its own kernel (``v7.3+<fix>``, which also has the fixes it needs) when it has one,
    else on the first kernel where the finding shows plus the fix; a candidate fix also carries
    the explorer's evidence."""
    out: list[FixResult] = []
    shown = [KERNELS[r.kernel] for r in kernels if r.shows]
    for sid, sw in SWITCHES.items():
        if (fid not in sw.fixes and fid not in sw.tried) or not shown:
            continue
        fixed = KERNELS.get(f"v7.3+{sid}")
        if fixed is None:
            base = next((k for k in shown if sid not in k.has), shown[0])
            fixed = attrs.evolve(base, name=f"{base.name}+{sid}", has=base.has | {sid})
        result = _replay(fid, fixed)
        clean = result.shows is False and result.unexplained is None
        verdict = result.how if result.shows is None else (
            "the finding no longer shows" if clean else "still shows" if result.shows else
            f"{result.unexplained} fails")  # fmt: skip
        evidence = evidence_for(sid)
        words = "" if evidence is None else f"the explorer on {evidence.kernel}: {evidence.words()}"
        out.append(FixResult(sid, sw.title, sw.what, fixed.name, clean, verdict, fid in sw.fixes, words))
    return out


def dossier(fid: str) -> Dossier:
    f = FINDINGS[fid]
    inv = REGISTRY[f.invariant]
    kernels = tuple(_replay(fid, k) for k in KERNELS.values())
    initial, actions = f.build()
    return Dossier(
        id=fid,
        title=f.title,
        invariant=f.invariant,
        invariant_doc=" ".join(inv.doc.split()),
        promise=PROMISES[inv.promise] if inv.promise else None,
        details=DETAILS[fid],
        signature=" ".join((f.signature.__doc__ or "").split()),
        kernels=kernels,
        trace=(initial, tuple(actions)),
        verdict=check_run(initial, actions),
        fixes=tuple(_fixes(fid, kernels)),
        found_by=tuple(_found_by(fid)),
    )


def _found_by(fid: str) -> list[str]:
    """The engines that meet the finding on their own: the state machines that must (the ci
    profile fails them otherwise) and the explorer runs of the kernel history."""
    out = [f"the {m} state machine under the ci profile (tcpclose check --machine {m})"
           for m, events in REQUIRED.items() if f"known {fid}" in events]  # fmt: skip
    for h in HISTORY:
        for kernel, seen in ((h.before, h.findings_before), (h.after, h.findings_after)):
            line = f"the explorer (tcpclose explore --kernel {kernel} --config {h.config})"
            if fid in seen and line not in out:
                out.append(line)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>") or "-"


def markdown(d: Dossier) -> str:
    """The finding as a self-contained report (docs/findings/Fn.md)."""
    initial, actions = d.trace
    acts = list(actions)
    states = replay(initial, acts)
    promise = f"`{d.invariant}`: {d.invariant_doc}" + (f' (the user\'s promise: "{d.promise}")' if d.promise else "")
    fixes = ", ".join(f"`{f.switch}`" for f in d.fixes if f.claimed) or "none modelled yet"
    tried = [f for f in d.fixes if not f.claimed]
    if tried:
        fixes += "; tried and not enough: " + ", ".join(f"`{f.switch}`" for f in tried)
    lines = [
        f"# {d.id}: {d.title}",
        "",
        "<!-- Generated from the code by `tcpclose findings --markdown docs/findings`; tests/test_docs.py fails "
        "when this file no longer matches it. -->",
        "",
        "| | |",
        "|---|---|",
        f"| promise broken | {_cell(promise)} |",
        f"| reproduces on | {', '.join(d.reproduces_on) or 'no named kernel'} |",
        f"| conditions | {_cell(d.details.conditions)} |",
        f"| proposed fix | {fixes} |",
        f"| seen live | {_cell(d.details.live) if d.details.live else 'not yet'} |",
        "",
        "## Mechanism",
        "",
        d.details.mechanism,
        "",
        "## Impact",
        "",
        d.details.impact,
        "",
        "## Affected kernels",
        "",
        "Each named kernel of `tcpclose kernels`, with the finding's traces replayed under the kernel's "
        "switches (the trace's other choices, such as the preemption model, kept), each step the kernel "
        "cannot take skipped (a defer-v2 producer has no separate count step, a close-old purge does not "
        'defer). "Not by these traces" is no proof of absence: another interleaving may still show it.',
        "",
        "| kernel | shows it | trace |",
        "|---|---|---|",
    ]
    for k in d.kernels:
        shows = SHOWS[k.shows]
        note = k.how + (f"; {k.unexplained} fails unexplained" if k.unexplained else "")
        lines.append(f"| {k.kernel} | {shows} | {_cell(note)} |")
    lines += [
        "",
        f"## Minimal trace ({len(acts)} steps)",
        "",
        f"{timeline.header(initial)}.",
        "",
        "| step | " + " | ".join(f"CPU {c.id}" for c in initial.cpus) + " | env | what changed |",
        "|---|" + "---|" * len(initial.cpus) + "---|---|",
    ]
    for r in timeline.rows(states, acts):
        cells = ["" for _ in initial.cpus]
        env = r.action if r.cpu is None else ""
        if r.cpu is not None:
            cells[r.cpu] = r.action
        lines.append(f"| {r.step} | " + " | ".join(cells) + f" | {env} | {_cell(chr(10).join(r.changes))} |")
    lines += [
        "",
        f"Verdict: {_verdict_words(d.verdict, d.id)}.",
        "",
        f"Replay it step by step: `tcpclose replay tests/counterexamples/finding-{d.id}.json`.",
        "",
        "## Proposed fix",
        "",
    ]
    if not d.fixes:
        lines += ["None modelled yet.", ""]
    for f in d.fixes:
        lines += [
            f"### `{f.switch}`: {f.title}" + ("" if f.claimed else f" (does not fix {d.id})"),
            "",
            f.what,
            "",
            f"Evidence: the pinned trace on `{f.kernel}`: {f.verdict}.",
            "",
        ]
        if f.evidence:
            lines += [f"Exhaustive search (model/fixes.py; findings met on v7.3 -> with the fix): {f.evidence}.", ""]
    lines += [
        "## How it was verified",
        "",
        f"- The signature that recognises it (properties/findings.py): {d.signature}",
        *(f"- Found by {how}." for how in d.found_by),
        "- The trace is pinned by tests/test_findings.py and replayed from the regression corpus "
        "(tests/counterexamples).",
        "",
    ]
    return "\n".join(lines).rstrip() + "\n"
