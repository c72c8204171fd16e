"""The bad-input battery: every malformed trace file, impossible parameter, bad environment
variable and unwritable output path gets exit status 2, exactly one line on stderr (starting
``tcpclose: ``), no traceback, and leaves every file as it was.

Each case runs the real command line in a fresh working directory (so that a default output
folder such as tcpclose-traces/ or tcpclose-metrics/ would appear there) and compares a
snapshot of that directory, bytes and modification times, before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

HERE = Path(__file__).parent
GOOD = json.loads((HERE / "counterexamples" / "finding-F1.json").read_text())
HUGE = "5" * 5000  # more digits than Python parses by default (4300)


def _edit(**path_values: Any) -> dict[str, Any]:
    """The good trace with ``a__b__0=value`` set at data["a"]["b"][0]."""
    data: dict[str, Any] = json.loads(json.dumps(GOOD))
    for dotted, value in path_values.items():
        node: Any = data
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


Setup = Callable[[Path], None]


@attrs.frozen
class Case:
    args: tuple[str, ...]
    needle: str  # must appear in the one line
    files: dict[str, str | bytes | dict[str, Any]] = attrs.field(factory=dict)  # written into the work dir first
    env: dict[str, str] = attrs.field(factory=dict)
    setup: Setup | None = None


def trace(content: str | bytes | dict[str, Any], needle: str, *extra: str) -> Case:
    return Case(("replay", "bad.json", *extra), needle, files={"bad.json": content})


def _fifo(tmp: Path) -> None:
    os.mkfifo(tmp / "pipe.json")


def _subdir(tmp: Path) -> None:
    (tmp / "adir.json").mkdir()


CASES: dict[str, Case] = {
    # -- trace files --------------------------------------------------------------------------
    "trace: malformed JSON": trace('{"schema": "tcpclose-trace", ', "not valid JSON"),
    "trace: empty file": trace("", "not valid JSON"),
    "trace: not an object": trace("[1, 2]", "a trace is a JSON object"),
    "trace: another schema": trace(_edit(schema="other"), "not a tcpclose trace"),
    "trace: another spec format": trace(_edit(spec_format=99), "spec format 99"),
    "trace: unknown action": trace(_edit(actions__1={"type": "Teleport", "sk": 0}), "unknown action 'Teleport'"),
    "trace: action with a bad field": trace(_edit(actions__1={"type": "CloseStart", "sk": "zero"}), "integer"),
    "trace: action not enabled": trace(_edit(actions__1={"type": "CloseDecide", "sk": 0}), "is not enabled"),
    "trace: socket out of range": trace(_edit(actions__1={"type": "CloseStart", "sk": 7}), "is not enabled"),
    "trace: negative skb_defer_max": trace(_edit(boot__skb_defer_max=-1), "skb_defer_max must be >= 0"),
    "trace: zero CPUs": trace(_edit(boot__cpu_nodes=[]), "number of CPUs"),
    "trace: 100 CPUs": trace(_edit(boot__cpu_nodes=[0] * 100), "number of CPUs (boot.cpu_nodes) is 100"),
    "trace: a node with no CPU": trace(_edit(boot__cpu_nodes=[0, 2]), "every NUMA node"),
    "trace: unknown config value": trace(_edit(boot__config__close_path="close-mid"), "close_path='close-mid'"),
    "trace: unknown config field": trace(_edit(boot__config__frobnicate=1), "unknown field(s) frobnicate"),
    "trace: unknown mutant": trace(_edit(mutant="no_such_mutant"), "unknown mutant"),
    "trace: unknown invariant": trace(_edit(violation={"invariant": "nope", "step": 1}), "violation"),
    "trace: malformed TX completion": trace(_edit(boot__env__tx_completions=[[0]]), "tx_completions must be a list of"),
    "trace: TX completion on a missing CPU": trace(
        _edit(boot__env__tx_completions=[[0, 5]]), "names a CPU that does not exist"
    ),
    "trace: unknown preemption model": trace(_edit(boot__config__preempt="sometimes"), "preempt='sometimes'"),
    "trace: binary": trace(b"\x7fELF\x02\x01\x01\x00" + bytes(range(128, 256)) * 4, "not UTF-8 text"),
    "trace: UTF-16 with BOM": trace(json.dumps(GOOD).encode("utf-16"), "UTF-16"),
    "trace: UTF-16 without BOM": trace(json.dumps(GOOD).encode("utf-16-le"), "UTF-16"),
    "trace: deeply nested JSON": trace("[" * 200_000 + "]" * 200_000, "nested too deeply"),
    "trace: 5000-digit integer": trace(
        json.dumps(GOOD).replace('"skb_defer_max": 64', f'"skb_defer_max": {HUGE}'), "not a trace"
    ),
    "trace: 30-digit integer": trace(_edit(boot__skb_defer_max=10**30), "fits no kernel field"),
    "trace: over the size limit": trace(" " * (8 * 2**20 + 1) + "{}", "over the 8,388,608-byte limit"),
    "trace: /dev/zero": Case(("replay", "/dev/zero"), "not a regular file"),
    "trace: a FIFO": Case(("replay", "pipe.json"), "not a regular file", setup=_fifo),
    "trace: a directory": Case(("replay", "adir.json"), "is a directory", setup=_subdir),
    "trace: missing file": Case(("replay", "no/such/file.json"), "cannot read"),
    "trace: pin a malformed file": Case(("pin", "bad.json", "--into", "."), "UTF-16", files={"bad.json": b"\xff\xfe{"}),
    "trace: pin into a missing folder": Case(
        ("pin", "good.json", "--into", "nowhere"), "no corpus folder", files={"good.json": GOOD}
    ),
    "replay --expect with --without-mutant": Case(
        ("replay", "good.json", "--expect", "--without-mutant"), "drop --without-mutant", files={"good.json": GOOD}
    ),
    # -- numbers ------------------------------------------------------------------------------
    "explore --cpus 10**26": Case(("explore", "--cpus", str(10**26)), "'--cpus'"),
    "explore --cpus 0": Case(("explore", "--cpus", "0"), "must be from 1 to 6"),
    "explore --cpus with 5000 digits": Case(("explore", "--cpus", HUGE), "5000-character number"),
    "explore --skbs 1000000": Case(("explore", "--skbs", "1000000"), "'--skbs'"),
    "explore --nodes above --cpus": Case(("explore", "--cpus", "2", "--nodes", "3"), "nodes must be between"),
    "explore --max-states 0": Case(("explore", "--max-states", "0"), "'--max-states'"),
    "explore --max-seconds 0": Case(("explore", "--max-seconds", "0"), "above 0"),
    "explore --max-seconds nan": Case(("explore", "--max-seconds", "nan"), "not a number"),
    "explore --max-memory 1": Case(("explore", "--max-memory", "1"), "'--max-memory'"),
    "explore --max-depth 0": Case(("explore", "--max-depth", "0"), "'--max-depth'"),
    "explore --defer-max -1": Case(("explore", "--defer-max", "-1"), "net.core.skb_defer_max"),
    "explore --sysctl 2**31": Case(("explore", "--sysctl", str(2**31)), "'--sysctl'"),
    "explore --config bogus": Case(("explore", "--config", "bogus"), "'bogus' is not one of"),
    "explore --config with a shape option": Case(("explore", "--config", "acceptance", "--skbs", "2"), "--skbs"),
    "explore --set a key with its own option": Case(("explore", "--set", "cpus=9"), "use the option --cpus"),
    "explore --set a 30-digit number": Case(("explore", "--set", f"migrations={10**30}"), "none here has more"),
    "explore --set beyond 64 bits": Case(("explore", "--set", "isn=99999999999999999999"), "fits no kernel field"),
    "explore --mutant unknown": Case(("explore", "--mutant", "no_such_mutant"), "unknown mutant"),
    "explore --skip-findings (gone)": Case(("explore", "--skip-findings"), "No such option"),
    "scenario --sockets 10**26": Case(("scenario", "--sockets", str(10**26)), "'--sockets'"),
    "scenario --skbs 1000000": Case(("scenario", "--skbs", "1000000"), "'--skbs'"),
    "scenario sockets x skbs too many": Case(("scenario", "--sockets", "64", "--skbs", "2048"), "over the 2048"),
    "scenario --defer-max -3": Case(("scenario", "attack", "--defer-max", "-3"), "'--defer-max'"),
    "scenario --close-cpu outside the layout": Case(("scenario", "--close-cpu", "3"), "has CPUs 0-1"),
    "check --max-examples 0": Case(("check", "--max-examples", "0"), "'--max-examples'"),
    "check --seed with 5000 digits": Case(("check", "--seed", HUGE), "'--seed'"),
    "spec-diff --timeout 0": Case(("spec-diff", "--timeout", "0"), "above 0"),
    "spec-diff --timeout -1": Case(("spec-diff", "--timeout", "-1"), "above 0"),
    "metrics --sweep with a word": Case(("metrics", "--sweep", "N=1,2,x"), "must be integers"),
    "metrics --sweep with 5000 digits": Case(("metrics", "--sweep", f"N={HUGE}"), "at most 32 values"),
    "metrics --sweep N too large": Case(("metrics", "--sweep", "N=100000"), "more than the model runs"),
    "probe --sends 11": Case(("probe", "--sends", "11"), "'--sends'"),
    "probe --pairs with a huge CPU": Case(("probe", "--pairs", f"0:{10**30}"), "--pairs takes"),
    "probe --defer-max with a word": Case(("probe", "--defer-max", "1,x"), "--defer-max takes"),
    # -- names and options --------------------------------------------------------------------
    "check --machine bogus": Case(("check", "--machine", "bogus", "--max-examples", "1"), "unknown machine(s) bogus"),
    "scenario --machine (renamed)": Case(("scenario", "--machine", "4cpu-2node"), "--machine is now --layout"),
    "scenario --layout nope": Case(("scenario", "--layout", "nope"), "'nope' is not one of"),
    "scenario recvmsg --sockets": Case(("scenario", "recvmsg", "--sockets", "2"), "--sockets is for attack"),
    "metrics --profile (renamed)": Case(("metrics", "--profile", "intel-2s"), "--profile is now --costs"),
    "metrics --costs nope": Case(("metrics", "--costs", "nope"), "'nope' is not one of"),
    "metrics --csv --json": Case(("metrics", "--csv", "--json"), "choose one"),
    "metrics unknown scenario": Case(("metrics", "nosuch"), "unknown metrics scenario"),
    "an unknown command": Case(("frobnicate",), "No such command"),
    # -- environment variables ----------------------------------------------------------------
    "TCPCLOSE_PROFILE=bogus": Case(
        ("check", "--max-examples", "1"), "TCPCLOSE_PROFILE='bogus'", env={"TCPCLOSE_PROFILE": "bogus"}
    ),
    "TCPCLOSE_TRACE_DIR empty": Case(
        ("check", "--max-examples", "1"), "TCPCLOSE_TRACE_DIR is set but empty", env={"TCPCLOSE_TRACE_DIR": ""}
    ),
    # -- output paths -------------------------------------------------------------------------
    "check: trace folder under a file": Case(
        ("check", "--max-examples", "1"),
        "is not a directory",
        files={"afile": "x"},
        env={"TCPCLOSE_TRACE_DIR": "afile/traces"},
    ),
    "explore: trace folder on a read-only file system": Case(
        ("explore", "--config", "tiny-1"), "cannot write in", env={"TCPCLOSE_TRACE_DIR": "/proc/tcpclose-traces"}
    ),
    "metrics --out under a file": Case(("metrics", "--out", "afile/m"), "is not a directory", files={"afile": "x"}),
    "metrics --out on a read-only file system": Case(("metrics", "--out", "/proc/tcpclose-metrics"), "cannot write in"),
    "metrics --out is a file": Case(("metrics", "--out", "afile"), "is a file", files={"afile": "x"}),
    "check --junit under a file": Case(("check", "--junit", "afile/r.xml"), "is not a directory", files={"afile": "x"}),
    "probe --json under a file": Case(("probe", "--json", "afile/p.json"), "is not a directory", files={"afile": "x"}),
    "check --json under a file": Case(("check", "--json", "afile/r.json"), "is not a directory", files={"afile": "x"}),
    "check --junit is a directory": Case(("check", "--junit", "adir.json"), "is a directory", setup=_subdir),
}


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_fifo() or p.is_dir():
            out[str(p.relative_to(root))] = (b"", p.stat().st_mtime_ns)
        else:
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def prepare(case: Case, tmp: Path) -> None:
    for name, content in case.files.items():
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content))
    if case.setup is not None:
        case.setup(tmp)


def run_case(case: Case, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCPCLOSE_")}
    env.update({"PYTHONHASHSEED": "0", "NO_COLOR": "1", "TERM": "dumb", **case.env})
    return subprocess.run(
        [sys.executable, "-m", "tcpclose", *case.args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gets_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    work = tmp_path / "work"
    work.mkdir()
    prepare(case, work)  # the snapshot is taken once the case's files exist: the command must change nothing
    before = _snapshot(work)
    done = run_case(case, work)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert len(lines) == 1 and lines[0].startswith("tcpclose: "), done.stderr
    assert case.needle in lines[0], lines[0]
    assert "Traceback" not in done.stdout + done.stderr
    assert _snapshot(work) == before


def test_battery_is_large_and_covers_each_kind() -> None:
    """At least 40 cases, and every kind the issue lists: binary, UTF-16, deep nesting, 5000
    digits, /dev/zero, a bad environment variable, unwritable output paths."""
    assert len(CASES) >= 40
    kinds = ("binary", "UTF-16", "nested", "5000", "/dev/zero", "TCPCLOSE_PROFILE", "metrics --out", "trace folder")
    for needle in kinds:
        assert any(needle in name for name in CASES), needle
