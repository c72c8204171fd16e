"""Run SPIN on the Promela model of a configuration and read back what it found.

``explore_spin(initial, ...)`` writes the model (properties/spin/promela.py), has ``spin -a``
write the verifier, compiles it with gcc and runs it: a breadth-first search (``-DBFS``), so that
the depth is the explorer's and a counterexample is a shortest one; with ``workers`` > 1 SPIN's
parallel breadth-first search (``-DBFS_PAR``, full state storage); with ``bitstate`` a bitstate
(supertrace) search, or with ``hashcompact`` hash compaction, both of which may miss states
and say how well they covered the space.

Counting. SPIN's first state is the all-zero vector before the boot step (promela.py: ``init``
starts with ``d_step { boot() }``), so the spec's distinct states are SPIN's stored states less
one, its transitions SPIN's transitions (stored + matched) less two (the root and the boot step),
and its depth SPIN's less one. The boot state itself is checked here, with the Python invariants,
as the explorer checks it.

A violation: SPIN writes a trail; ``spin -t`` replays it and prints the actions (every option
prints ``@ Action args``), which become a ``Counterexample`` that properties.checker.check_run
replays. SPIN names the invariant ("assertion violated <name>"); when the Python replay does not
show the same violation at the same step, the engines disagree and ``SpinError`` says so.
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

from properties import invariants
from properties.checker import check_run, is_quiescent
from properties.explorer import Counterexample, peak_rss_bytes
from properties.spin import promela
from properties.traces import ACTIONS
from spec import Action, State


class SpinError(Exception):
    """SPIN or the C compiler is missing or failed, or the two engines disagree: one line."""


def missing() -> str | None:
    """Why SPIN cannot run here (None when it can): the Debian packages spin and gcc."""
    for tool, package in (("spin", "spin"), ("gcc", "gcc")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    return None


@attrs.frozen
class SpinResult:
    """What a SPIN search found and what it cost, in the explorer's terms (ExploreResult)."""

    distinct_states: int
    transitions: int
    depth: int
    seconds: float
    peak_memory_bytes: int
    complete: bool
    reason: str
    violation: Counterexample | None = None
    state_vector_bytes: int = 0
    memory_bytes: int = 0  # SPIN's "total actual memory usage" (with the hash table)
    state_memory_bytes: int = 0  # SPIN's "actual memory usage for states"
    search_seconds: float = 0.0  # the verifier's own run, without writing and compiling it
    search_cpu_seconds: float = 0.0
    coverage: str = ""  # bitstate / hash compaction: SPIN's own estimate of how well it covered the space
    mode: str = "exhaustive"

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else float("inf")

    @property
    def bytes_per_state(self) -> float:
        """The memory SPIN used for its stored states, per state."""
        return self.state_memory_bytes / max(1, self.distinct_states)

    def summary(self) -> str:
        status = "complete" if self.complete else f"incomplete: {self.reason}"
        cover = f"; {self.coverage}" if self.coverage else ""
        return (
            f"{self.distinct_states:,} states, {self.transitions:,} transitions, depth {self.depth}, "
            f"{self.seconds:.2f} s ({self.states_per_second:,.0f} states/s), SPIN memory "
            f"{self.memory_bytes / 2**20:.0f} MiB ({self.bytes_per_state:.0f} B/state), {self.mode}; {status}{cover}"
        )


def _run(cmd: list[str], cwd: Path, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as err:
        raise SpinError(f"cannot run {cmd[0]}: {err.strerror}") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


def build(initial: State, workdir: Path, *, skip: frozenset[str], flags: list[str]) -> Path:
    """Write the model and compile its verifier in ``workdir``; returns the executable."""
    reason = missing()
    if reason is not None:
        raise SpinError(reason)
    model = workdir / "tcpclose.pml"
    model.write_text(promela.generate(initial, skip=skip))
    # -o2: keep every variable in the state vector, also those no check of this run reads (SPIN would
    # hide a write-only variable, and merge states the spec tells apart)
    done = _run(["spin", "-a", "-o2", model.name], workdir)
    if done.returncode != 0 or not (workdir / "pan.c").exists():
        raise SpinError(f"spin -a failed: {_first_line(done.stdout + done.stderr)}")
    # SPIN refuses hidden variables in a breadth-first search because it does not restore them
    # with a state; ours are the locals of one step, written before they are read in every step
    # (promela.SCRATCH), so nothing is lost by keeping them out of the state vector.
    header = workdir / "pan.h"
    header.write_text(header.read_text().replace("#error cannot use BFS on models with variables declared hidden", ""))
    cc = _run(["gcc", "-w", *flags, "-o", "pan", "pan.c"], workdir)
    if cc.returncode != 0:
        raise SpinError(f"gcc failed on the verifier: {_first_line(cc.stderr)}")
    return workdir / "pan"


def _number(pattern: str, text: str, default: float = 0.0) -> float:
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default


def explore_spin(
    initial: State,
    *,
    skip: frozenset[str] = frozenset(),
    workers: int = 1,
    bitstate: bool = False,
    hashcompact: bool = False,
    max_states: int = 10_000_000,
    max_seconds: float = 600.0,
    memory_mb: int = 8192,
    workdir: Path | None = None,
    checked: bool = False,
) -> SpinResult:
    """Search every state reachable from ``initial`` with SPIN, checking every invariant not in
    ``skip``; stops at the first (shortest) violation. ``max_states`` sizes the hash table (and the
    bit array of a bitstate search); ``memory_mb`` bounds SPIN's memory, ``max_seconds`` its time.
    ``checked``: compile quickly (-O0) and keep SPIN's array bound checks (the conformance tests);
    otherwise the verifier is optimized (-O1) and trusts the indices the tests checked."""
    unknown = skip - invariants.REGISTRY.keys()
    if unknown:
        raise ValueError(f"skip names unknown invariants: {sorted(unknown)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")
    if bitstate and hashcompact:
        raise ValueError("choose bitstate or hash compaction, not both")
    t0 = time.perf_counter()
    bad = invariants.check_state(initial, skip)
    if bad is None and is_quiescent(initial):
        bad = invariants.check_quiescent(initial, skip)
    if bad is not None:
        cx = Counterexample(initial, (), *bad, quiescent=is_quiescent(initial))
        return SpinResult(1, 0, 0, time.perf_counter() - t0, peak_rss_bytes(), False,
                          f"{bad[0]} is violated in the initial state", cx)  # fmt: skip
    # Optimized: -O2 compiles for minutes and searches no faster than -O1; NOCOMP hashes the state
    # vector as it is (about 10% faster here).
    optimized = ["-O1", "-DNOBOUNDCHECK", "-DNOCOMP"]
    flags = ["-DSAFETY", "-DNOREDUCE", f"-DMEMLIM={memory_mb}", *(["-O0"] if checked else optimized)]
    flags.append("-DBFS_PAR" if workers > 1 else "-DBFS")
    mode = "exhaustive"
    if bitstate:
        flags.append("-DBITSTATE")
        mode = "bitstate"
    elif hashcompact:
        flags.append("-DHC4")
        mode = "hash compaction"
    elif workers > 1:
        flags.append("-DNO_HC")  # BFS_PAR stores compacted hashes unless told otherwise
    if workers > 1:
        flags.append(f"-DNCORE={workers}")
        mode += f", {workers} workers"
    # Bits of the hash table: about one slot per state (bitstate: 32 bits per state).
    width = max(16, min(34, math.ceil(math.log2(max(2, max_states))) + (5 if bitstate else 0)))
    with tempfile.TemporaryDirectory(prefix="tcpclose-spin-") as tmp:
        where = workdir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        pan = build(initial, where, skip=skip, flags=flags)
        args = [str(pan), f"-w{width}", "-m1000000"]
        if workers > 1:
            args.append(f"-u{workers}")
        cpu0 = _children_cpu()
        s0 = time.perf_counter()
        try:
            done = _run(args, where, timeout=max_seconds)
        except subprocess.TimeoutExpired:
            return SpinResult(0, 0, 0, time.perf_counter() - t0, peak_rss_bytes(), False,
                              f"time budget of {max_seconds:g} s spent (raise max_seconds, or shrink the "
                              f"configuration)", mode=mode)  # fmt: skip
        out = done.stdout + done.stderr
        stored = int(_number(r"([\d.e+]+) states, stored", out))
        matched = int(_number(r"([\d.e+]+) states, matched", out))
        memory = int(_number(r"([\d.]+)\s+(?:total actual memory usage|memory usage \(Mbyte\))", out) * 2**20)
        if "State-vector" not in out:
            if "out of memory" in out or "MEMLIM" in out:
                return SpinResult(0, 0, 0, time.perf_counter() - t0, peak_rss_bytes(), False,
                                  f"SPIN ran out of its {memory_mb} MiB", mode=mode)  # fmt: skip
            raise SpinError(f"SPIN's verifier stopped without a report: {_first_line(out)}")
        result = SpinResult(
            distinct_states=max(0, stored - 1),
            transitions=max(0, stored + matched - 2),
            depth=max(0, int(_number(r"depth reached (\d+)", out)) - 1),
            seconds=time.perf_counter() - t0,
            peak_memory_bytes=peak_rss_bytes(),
            complete=True,
            reason="",
            state_vector_bytes=int(_number(r"State-vector (\d+) byte", out)),
            memory_bytes=memory,
            # without state compression (NOCOMP) SPIN prints only its total, hash table included
            state_memory_bytes=int(_number(r"([\d.]+)\s+actual memory usage for states", out) * 2**20) or memory,
            search_seconds=time.perf_counter() - s0,
            search_cpu_seconds=_children_cpu() - cpu0,
            coverage=_coverage(out) if (bitstate or hashcompact) else "",
            mode=mode,
        )
        if "out of memory" in out or "MEMLIM" in out:
            return attrs.evolve(result, complete=False, reason=f"SPIN ran out of its {memory_mb} MiB")
        failed = re.search(r"assertion violated (\w+)", out)
        if failed is None:
            if int(_number(r"errors: (\d+)", out)):
                raise SpinError(f"SPIN reports an error that is not an invariant: {_first_line(out)}")
            return result
        cx = _counterexample(initial, where, failed.group(1), skip)
        reason = f"{cx.invariant} is violated {'in a quiescent state' if cx.quiescent else 'at step'} {cx.step}"
        return attrs.evolve(result, complete=False, reason=reason, violation=cx)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _coverage(out: str) -> str:
    """SPIN's own words on how much of the space a lossy search covered."""
    lines = [
        line.strip()
        for line in out.splitlines()
        if re.search(r"hash factor|coverage|bits set per state|hash conflicts|probability", line)
    ]
    return "; ".join(lines)


def actions_of_trail(text: str) -> tuple[Action, ...]:
    """The actions ``spin -t`` prints while it replays a trail (``@ Name arg ...`` lines)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "@":
            cls = ACTIONS.get(parts[1])
            if cls is None:
                raise SpinError(f"the trail names an unknown action {parts[1]!r}")
            out.append(cls(*(int(p) for p in parts[2:])))
    return tuple(out)


def _counterexample(initial: State, where: Path, invariant: str, skip: frozenset[str]) -> Counterexample:
    trail = next(where.glob("*.trail"), None)
    if trail is None:
        raise SpinError(f"SPIN found {invariant} violated but wrote no trail")
    done = _run(["spin", "-t", "-B", "tcpclose.pml"], where, timeout=600)
    actions = actions_of_trail(done.stdout)
    verdict = check_run(initial, actions, skip)
    if verdict.invariant != invariant or verdict.step != len(actions):
        raise SpinError(
            f"SPIN and the spec disagree: SPIN finds {invariant} after {len(actions)} steps, the spec's replay "
            f"gives {verdict.invariant or 'no violation'} at step {verdict.step}"
        )
    return Counterexample(initial, actions, invariant, verdict.message, quiescent=verdict.quiescent)


def workdir_from_env() -> Path | None:
    """``TCPCLOSE_SPIN_DIR`` keeps the model, the verifier and the trail there (for swarm runs)."""
    value = os.environ.get("TCPCLOSE_SPIN_DIR")
    return Path(value) if value else None


@attrs.frozen
class Observed:
    """What the Promela shows after a step of a walk (or at its start): the enabled actions, the
    state vector, and whether the state is quiescent; ``refused`` names an action not enabled."""

    enabled: tuple[str, ...]
    vector: dict[str, list[int]]
    quiescent: bool
    refused: str | None = None
    violated: str | None = None  # the invariant whose assertion failed in this step


def run_walks(
    initial: State, walks: list[tuple[Action, ...]], *, skip: frozenset[str] | None = None
) -> list[list[Observed]]:
    """Play each walk from ``initial`` in SPIN's simulator (``spin -n1``, the Promela interpreted,
    nothing compiled) and return what it shows after every step. Invariants are not checked
    unless ``skip`` leaves some on (an assertion then ends the simulation)."""
    reason = missing()
    if reason is not None:
        raise SpinError(reason)
    skip = frozenset(invariants.REGISTRY) if skip is None else skip
    with tempfile.TemporaryDirectory(prefix="tcpclose-spin-") as tmp:
        model = Path(tmp) / "walk.pml"
        model.write_text(promela.generate(initial, skip=skip, mode="walk", walks=walks))
        done = _run(["spin", "-n1", "-B", model.name], Path(tmp), timeout=600)
    failed = re.search(r"text of failed assertion: assert\((\w+)\)", done.stdout)
    if failed is None and ("Error" in done.stdout or done.returncode != 0):
        raise SpinError(f"spin failed on the walk: {_first_line(done.stdout + done.stderr)}")
    logs: list[list[Observed]] = []
    enabled: list[str] = []
    vector: dict[str, list[int]] = {}
    for raw in done.stdout.splitlines():
        line = raw.strip()
        if line.startswith("W "):
            logs.append([])
        elif line.startswith("E "):
            enabled.append(line[2:])
        elif line.startswith("S "):
            name, *values = line[2:].split()
            vector[name] = [int(v) for v in values]
        elif line.startswith("Q "):
            logs[-1].append(Observed(tuple(enabled), vector, line[2:] == "1"))
            enabled, vector = [], {}
        elif line.startswith("N "):
            logs[-1].append(Observed((), {}, False, refused=line[2:]))
    if failed is not None:  # the simulation stopped in the middle of the last walk's next step
        logs[-1].append(Observed((), {}, False, violated=failed.group(1)))
    return logs
