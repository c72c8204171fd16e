"""Running the Promela model of properties/spin/promela.py with SPIN: compile, search, read back.

``available()`` says why SPIN cannot run here (``spin`` or a C compiler missing), or None.
``search(initial, ...)`` renders the model, compiles it with ``spin -a`` and ``gcc`` into a
``pan`` verifier (cached by a hash of the model and the compile flags, under the temporary
directory, so each configuration is compiled once), runs it and parses its report: distinct
states, transitions, depth, state-vector size, memory, and for bitstate SPIN's hash factor and
coverage estimate. Violations: pan writes one trail per reported assertion (at most
``max_violations`` per invariant); ``spin -t`` replays each, the ``printf`` of every step names
the spec action it took, and the actions are replayed through the Python spec and classified by
the explorer's judge (properties/checker.py, known findings by their signature).

Search modes: breadth first (``bfs``, depths comparable with the Python explorer's), depth first;
``workers`` > 1 uses pan's multi-core search (-DNCORE, depth first only: the multi-core
breadth-first search of pan, -DBFS_PAR, compacts states by default and is not used);
``bitstate`` (-DBITSTATE, one bit per state, a partial search with a coverage estimate) and
``hashcompact`` (-DHC4, a 4-byte compressed state) trade completeness for memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

from properties.checker import Judge
from properties.spin import promela
from spec import NotEnabled, SpecError, State, enabled, step
from spec import actions as A

_ACTION = re.compile(r"^\s*ACT (\w+)((?: -?\d+)*)\s*$")


def available() -> str | None:
    """Why SPIN searches cannot run here, or None."""
    for tool in ("spin", "gcc"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install spin gcc)"
    return None


@attrs.frozen
class SpinViolation:
    """One assertion pan reported, as spec actions from the initial state, and its classification."""

    invariant: str
    actions: tuple[A.Action, ...]
    finding: str | None  # the known finding whose signature explains it; None: unexplained
    message: str
    quiescent: bool


@attrs.frozen
class SpinResult:
    distinct_states: int
    transitions: int
    depth: int
    seconds: float  # pan's own search time (compiling excluded)
    compile_seconds: float
    state_vector_bytes: int
    memory_bytes: int  # pan's "total actual memory usage"
    errors: int
    complete: bool  # not bitstate/hash-compact, no depth truncation, no memory exhaustion
    mode: str
    hash_factor: float | None = None
    coverage: str = ""  # SPIN's estimate of the states a bitstate search covered
    violations: tuple[SpinViolation, ...] = ()
    output: str = ""

    @property
    def edges(self) -> int:
        """Transitions as the Python explorer counts them: pan also counts its arrival in the
        initial state, and the checking step of every state (properties/spin/promela.py)."""
        return self.transitions - 1 - self.distinct_states

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else float("inf")

    @property
    def bytes_per_state(self) -> float:
        return self.memory_bytes / self.distinct_states if self.distinct_states else 0.0

    @property
    def findings(self) -> tuple[str, ...]:
        seen: list[str] = []
        for v in self.violations:
            if v.finding is not None and v.finding not in seen:
                seen.append(v.finding)
        return tuple(seen)

    @property
    def unexplained(self) -> SpinViolation | None:
        return next((v for v in self.violations if v.finding is None), None)

    def summary(self) -> str:
        status = "complete" if self.complete else "partial"
        extra = f", hash factor {self.hash_factor:g}, {self.coverage}" if self.hash_factor is not None else ""
        found = f"; known findings met: {', '.join(self.findings)}" if self.findings else ""
        return (
            f"{self.distinct_states:,} states, {self.edges:,} transitions, depth {self.depth}, "
            f"{self.seconds:.2f} s ({self.states_per_second:,.0f} states/s), "
            f"{self.bytes_per_state:,.0f} bytes/state ({self.state_vector_bytes}-byte vector); "
            f"SPIN {self.mode}, {status}{extra}{found}"
        )


def _cache_dir() -> Path:
    root = Path(os.environ.get("TCPCLOSE_SPIN_CACHE", Path(tempfile.gettempdir()) / "tcpclose-spin"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def flags(*, bfs: bool, workers: int, bitstate: bool, hashcompact: bool, quick: bool = False) -> list[str]:
    """gcc's flags for pan; ``quick``: compile in a second or two (-O0), for small searches."""
    # -O2 runs also skip pan's array bound checks (the conformance tests compile with them)
    out = ["-O0"] if quick else ["-O2", "-DNOBOUNDCHECK"]
    out += ["-DSAFETY", "-DNOREDUCE", "-DMEMLIM=8192", "-DVECTORSZ=4096"]
    if bfs:
        out.append("-DBFS")
    elif workers > 1:
        out.append(f"-DNCORE={workers}")
    if not (bfs or bitstate or hashcompact):
        # an exhaustive depth-first search stores states uncompressed: about 1.5x the rate, and
        # more memory per state
        out.append("-DNOCOMP")
    if bitstate:
        out.append("-DBITSTATE")
    if hashcompact:
        out.append("-DHC4")
    return out


def compile_model(model: str, cflags: list[str]) -> tuple[Path, float]:
    """The pan binary for ``model`` compiled with ``cflags`` (cached); and the seconds spent."""
    key = hashlib.sha256((model + "\0" + " ".join(cflags)).encode()).hexdigest()[:20]
    where = _cache_dir() / key
    pan = where / "pan"
    if pan.exists():
        return pan, 0.0
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=key + ".", dir=_cache_dir()))
    (tmp / "model.pml").write_text(model)
    done = subprocess.run(["spin", "-a", "model.pml"], cwd=tmp, capture_output=True, text=True)
    if done.returncode != 0:
        raise SpecError(f"spin -a failed: {(done.stdout + done.stderr).strip().splitlines()[:1]}")
    done = subprocess.run(["gcc", *cflags, "-o", "pan", "pan.c"], cwd=tmp, capture_output=True, text=True)
    if done.returncode != 0:
        raise SpecError(f"gcc failed on pan.c: {done.stderr.strip().splitlines()[-1:]}")
    try:
        tmp.rename(where)
    except OSError:  # another process compiled it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return pan, time.perf_counter() - t0


def _num(pattern: str, text: str, default: float | None = None) -> float:
    m = re.search(pattern, text)
    if m is None:
        if default is None:
            raise SpecError(f"cannot read pan's report ({pattern!r} missing)")
        return default
    return float(m.group(1))


@attrs.frozen
class Followed:
    """A run followed by SPIN: how many of its actions the Promela took, and the invariants its
    assertions reported on the way (each once)."""

    steps: int
    reported: frozenset[str]


def follow(initial: State, actions: tuple[A.Action, ...]) -> Followed:
    """Make the Promela take ``actions`` in order (a scripted model): the steps it could take and
    the invariants it reported."""
    model = promela.render(initial, max_reports=1, script=actions)
    pan, _ = compile_model(model, flags(bfs=True, workers=1, bitstate=False, hashcompact=False, quick=True))
    done = subprocess.run([str(pan), "-c0", "-n"], cwd=pan.parent, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    names = {promela.INVARIANTS[int(k) - 1] for k in re.findall(r"assertion violated \(inv!=(\d+)\)", out)}
    return Followed(int(_num(r"depth reached (\d+)", out)), frozenset(names))


def search(
    initial: State,
    *,
    bfs: bool = True,
    workers: int = 1,
    bitstate: bool = False,
    hashcompact: bool = False,
    max_violations: int = 1,
    hash_bits: int | None = None,
    seed: int | None = None,
    max_seconds: float | None = None,
    quick: bool = False,
) -> SpinResult:
    """SPIN's search of every state reachable from ``initial`` (a booted state of model/small.py)."""
    why = available()
    if why is not None:
        raise SpecError(f"the SPIN engine needs spin and gcc: {why}")
    if workers < 1 or max_violations < 1:
        raise SpecError("workers and max_violations must be >= 1")
    if workers > 1 and bfs:
        raise SpecError("pan's multi-core search is depth first: add --depth-first to --workers")
    # pan refuses hidden variables in its breadth-first and its multi-core searches
    model = promela.render(initial, max_reports=max_violations, bfs=bfs or workers > 1)
    cflags = flags(bfs=bfs, workers=workers, bitstate=bitstate, hashcompact=hashcompact, quick=quick)
    pan, compile_seconds = compile_model(model, cflags)
    run_dir = Path(tempfile.mkdtemp(prefix="run.", dir=_cache_dir()))
    try:
        shutil.copy(pan.parent / "model.pml", run_dir / "model.pml")
        # pan's multi-core search stops at its first trail: it only names the invariants it saw
        # violated, and a single-core bitstate pass below writes their trails.
        args = [str(pan), "-c0", "-n"] + (["-e"] if workers == 1 else [])
        if not bfs and workers == 1:
            args.append("-m1000000")
        if hash_bits is not None:
            args.append(f"-w{hash_bits}")
        if seed is not None:
            args.append(f"-RS{seed}")
        t0 = time.perf_counter()
        try:
            done = subprocess.run(args, cwd=run_dir, capture_output=True, text=True, timeout=max_seconds)
        except subprocess.TimeoutExpired:
            raise SpecError(f"the SPIN search did not finish within {max_seconds:g} s") from None
        wall = time.perf_counter() - t0
        out = done.stdout + done.stderr
        states = int(_num(r"(\d+) states, stored", out))
        transitions = int(_num(r"(\d+) transitions \(", out))
        depth = int(_num(r"depth reached (\d+)", out))
        errors = int(_num(r"errors: (\d+)", out))
        vector = int(_num(r"State-vector (\d+) byte", out))
        memory = _num(r"([\d.]+)\s+(?:total actual memory usage|memory usage \(Mbyte\))", out, 0.0)
        elapsed = _num(r"elapsed time ([\d.e+-]+) seconds", out, wall)
        hf = _num(r"hash factor: ([\d.e+-]+)", out, -1.0)
        coverage = ""
        m = re.search(r"expected coverage[^\n]*", out)
        if m is not None:
            coverage = m.group(0).strip()
        elif bitstate and hf > 0:
            coverage = f"hash factor {hf:g} (a factor above 100 means close to full coverage)"
        truncated = any(m in out.lower() for m in ("max search depth too small", "out of memory", "memlim bound"))
        if workers == 1:
            violations = _violations(initial, run_dir, out)
        elif errors:
            trails = search(initial, bitstate=True, max_violations=max_violations, max_seconds=max_seconds)
            violations = trails.violations
        else:
            violations = ()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    mode = ("BFS" if bfs else "DFS") + (f", {workers} cores" if workers > 1 else "")
    mode += ", bitstate" if bitstate else ""
    mode += ", hash-compact" if hashcompact else ""
    return SpinResult(
        distinct_states=states,
        transitions=transitions,
        depth=depth,
        seconds=elapsed,
        compile_seconds=compile_seconds,
        state_vector_bytes=vector,
        memory_bytes=int(memory * 2**20),
        errors=errors,
        complete=not (bitstate or hashcompact or truncated),
        mode=mode,
        hash_factor=hf if hf > 0 else None,
        coverage=coverage,
        violations=violations,
        output=out,
    )


def _violations(initial: State, run_dir: Path, out: str) -> tuple[SpinViolation, ...]:
    """Each trail pan wrote, replayed through the spec and judged."""
    found: list[SpinViolation] = []
    for n, m in enumerate(re.finditer(r"assertion violated \(inv!=(\d+)\)", out), 1):
        name = promela.INVARIANTS[int(m.group(1)) - 1]
        trail = run_dir / f"model.pml{n}.trail"
        if not trail.exists():
            continue
        done = subprocess.run(
            ["spin", f"-t{n}", "-T", "model.pml"], cwd=run_dir, capture_output=True, text=True, timeout=120
        )
        actions = tuple(_action(line) for line in done.stdout.splitlines() if _ACTION.match(line))
        found.append(judge(initial, actions, name))
    return tuple(found)


_NAMES: dict[str, type[A.Action]] = {cls.__name__: cls for cls in A.ALL_ACTIONS}


def _action(line: str) -> A.Action:
    m = _ACTION.match(line)
    assert m is not None
    name, args = m.group(1), [int(x) for x in m.group(2).split()]
    cls = _NAMES.get(name)
    if cls is None:
        raise SpecError(f"a SPIN trail names an unknown action {name!r}")
    return cls(*args)


def judge(initial: State, actions: tuple[A.Action, ...], invariant: str) -> SpinViolation:
    """Replay a SPIN run through the Python spec and classify the violation pan reported there
    with the explorer's judge: the invariant is checked on the spec's own states, so a Promela
    that drifted from the spec shows as a violation the spec does not have."""
    from properties import invariants

    states = [initial]
    for n, a in enumerate(actions, 1):
        try:
            states.append(step(states[-1], a))
        except NotEnabled as err:
            drift = f"the spec cannot take step {n} of SPIN's run ({err.reason}): the Promela drifted"
            return SpinViolation(invariant, actions, None, drift, False)
    pre, post = (states[-2], states[-1]) if len(states) > 1 else (initial, initial)
    inv = invariants.REGISTRY[invariant]
    quiescent = not any(not a.environment for a in enabled(post))
    message = inv.check(pre, actions[-1], post) if inv.kind == "transition" else inv.check(post)
    if message is None:
        drift = "SPIN reports it; the spec does not (the Promela drifted)"
        return SpinViolation(invariant, actions, None, drift, False)
    j = Judge(initial, actions, states)
    failure = j.judge([(invariant, message)], len(actions), inv.kind == "quiescent" and quiescent)
    finding = None if failure is not None else next(iter(j.explained), None)
    return SpinViolation(invariant, actions, finding, message, inv.kind == "quiescent")


# -- swarm verification: many bitstate searches, each with its own seed and hash, on many machines --

# Each member randomizes the order in which it tries the transitions out of a state (T_RAND,
# seeded by -RS) and uses one of pan's 500 hash seeds (-h), so that members cover different parts
# of a state space too large for one bitstate search.
SWARM_CFLAGS = [*flags(bfs=False, workers=1, bitstate=True, hashcompact=False), "-DT_RAND", "-DP_RAND"]
_SWARM_MEMBER = """#!/bin/sh
# One member of a tcpclose swarm (written by tcpclose explore --engine spin --emit-swarm).
# usage: ./member.sh SEED [HASH_BITS]   (each member its own SEED; HASH_BITS: log2 of the bit
# array, default 32, i.e. 512 MiB). Compiles pan here on first use; the member's trails and report
# go to run-SEED/. Bring the run-* folders back and read them with the same explore command and
# --trails DIR.
set -eu
cd "$(dirname "$0")"
[ -x pan ] || { spin -a model.pml >/dev/null && gcc {cflags} -o pan pan.c; }
seed="$1"; bits="${{2:-32}}"
mkdir -p "run-$seed" && cp model.pml "run-$seed/" && cd "run-$seed"
../pan -c0 -e -n -m1000000 -k3 -w"$bits" -RS"$seed" -h"$((seed % 500))" > pan.out 2>&1 || true
grep -E 'states, stored|errors:|hash factor|coverage' pan.out || true
"""


def emit_swarm(initial: State, directory: Path, *, max_violations: int = 1) -> list[Path]:
    """Write what a swarm needs into ``directory``: the model and a member script that compiles
    pan for bitstate search with randomized transition order and runs one seeded member."""
    if available() is not None:
        raise SpecError(f"the SPIN engine needs spin and gcc: {available()}")
    directory.mkdir(parents=True, exist_ok=True)
    model = directory / "model.pml"
    model.write_text(promela.render(initial, max_reports=max_violations, bfs=False))
    member = directory / "member.sh"
    member.write_text(_SWARM_MEMBER.replace("{cflags}", " ".join(SWARM_CFLAGS)).replace("{{", "{").replace("}}", "}"))
    member.chmod(0o755)
    return [model, member]


def read_trails(initial: State, directory: Path, *, max_violations: int = 1) -> tuple[SpinViolation, ...]:
    """Every trail under ``directory`` (each beside the model.pml of its member), replayed through
    the spec and judged; the model must be the one ``initial`` renders (same configuration)."""
    if available() is not None:
        raise SpecError(f"the SPIN engine needs spin and gcc: {available()}")
    expected = promela.render(initial, max_reports=max_violations, bfs=False)
    found: list[SpinViolation] = []
    for trail in sorted(directory.rglob("model.pml*.trail")):
        model = trail.parent / "model.pml"
        if not model.is_file() or model.read_text() != expected:
            raise SpecError(f"{trail} comes from another model: give the configuration, --kernel and "
                            "--max-violations of the run that emitted it")  # fmt: skip
        number = trail.name[len("model.pml") : -len(".trail")]
        done = subprocess.run(["spin", f"-t{number}", "-T", "model.pml"], cwd=trail.parent, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        # the replay reports every assertion the run passes through; the trail's own is the last
        reported = re.findall(r"assert\(\(inv!=(\d+)\)\)", done.stdout + done.stderr)
        if not reported:
            raise SpecError(f"{trail}: spin's replay names no violated invariant")
        actions = tuple(_action(line) for line in done.stdout.splitlines() if _ACTION.match(line))
        found.append(judge(initial, actions, promela.INVARIANTS[int(reported[-1]) - 1]))
    return tuple(found)
