"""Trace files: a run written down so that anyone can replay it with the spec's own ``step``,
on any machine, whatever the Hypothesis version.

A trace holds the initial state as the arguments of ``spec.boot()`` (configuration and variants,
CPU-to-node map, skb_defer_max, each socket with its scripted workload, the environment
budgets), the action list, the mutant it was found on (if any), the violation it showed, and
what the unmodified spec is expected to do with it. Every problem in a file is reported as one
``TraceError`` line naming the file and the place.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import stat
import sys
import types as types_mod
import typing
from pathlib import Path
from typing import Any

import attrs

import tcpclose
from model import kernels
from model.limits import INT64, TRACE_ACTIONS, TRACE_BYTES, TRACE_CPUS, TRACE_PACKETS, TRACE_SOCKETS, Limit, check_int
from properties.checker import NotEnabledAt, Verdict, check_run
from properties.invariants import REGISTRY
from spec import ALL_ACTIONS, Action, Config, Env, Incoming, Sock, SpecError, State, UserOp, boot

SCHEMA = "tcpclose-trace"
# Bumped when the action vocabulary or the boot arguments change incompatibly; a trace written
# for another format is refused rather than misread.
SPEC_FORMAT = 1
ACTIONS: dict[str, type[Action]] = {cls.__name__: cls for cls in ALL_ACTIONS}


class TraceError(Exception):
    """A trace file that cannot be used as it is: one line, naming the file and the place."""


@attrs.frozen
class Trace:
    initial: State
    actions: tuple[Action, ...]
    found_by: str = "manual"
    mutant: str | None = None
    violation: Verdict | None = None  # what the run showed when it was recorded
    expect_on_spec: Verdict | None = None  # what the unmodified spec does with it (None: holds)
    note: str = ""
    kernel: str | None = None  # the named kernel the run was asked for (check/explore --kernel)


# -- encoding ------------------------------------------------------------------------------------


def _boot_args(s: State) -> dict[str, Any]:
    if s.skbs or any(k.owner is not None for k in s.sockets) or not all(c.online for c in s.cpus):
        raise TraceError("only runs that start from a booted state can be written as traces")
    return {
        "config": attrs.asdict(s.config),
        "cpu_nodes": [c.node for c in s.cpus],
        "skb_defer_max": s.skb_defer_max,
        "sockets": [attrs.asdict(k, recurse=True) for k in s.sockets],
        "env": attrs.asdict(s.env),
    }


def _verdict(v: Verdict | None) -> dict[str, Any] | None:
    """A verdict as JSON: the failure (``invariant`` null when the run holds) and the known
    findings it showed; null for a run that shows neither."""
    if v is None or (v.holds and not v.findings):
        return None
    out: dict[str, Any] = {"invariant": v.invariant, "step": v.step, "quiescent": v.quiescent, "message": v.message}
    if v.findings:
        out["findings"] = list(v.findings)
    return out


def encode(t: Trace) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "spec_format": SPEC_FORMAT,
        "tool_version": tcpclose.__version__,
        "found_by": t.found_by,
        "mutant": t.mutant,
        "boot": _boot_args(t.initial),
        "actions": [{"type": type(a).__name__, **attrs.asdict(a)} for a in t.actions],
        "violation": _verdict(t.violation),
        "expect_on_spec": _verdict(t.expect_on_spec),
        "note": t.note,
        "kernel": t.kernel,
        "matches_kernels": kernels.matching(t.initial.config),
    }


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a file atomically (a temporary file, then rename): an existing file is never lost.
    A path that cannot be written is a TraceError (one line)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        raise TraceError(f"{path}: cannot write: {err.strerror}") from None
    return path


def write(t: Trace, path: Path) -> Path:
    """Write a trace atomically."""
    return write_text_atomic(path, json.dumps(encode(t), indent=1) + "\n")


def trace_dir() -> Path:
    return Path(os.environ.get("TCPCLOSE_TRACE_DIR", "tcpclose-traces"))


def record(t: Trace) -> Path:
    """Write a failure's trace under ``trace_dir()``, named by what failed and a content hash."""
    body = json.dumps(encode(t), sort_keys=True)
    digest = hashlib.sha256(body.encode()).hexdigest()[:10]
    # a run that holds (a known finding's) is named by its findings
    what = "run"
    if t.violation is not None:
        what = t.violation.invariant or "-".join(t.violation.findings) or "run"
    return write(t, trace_dir() / f"{t.found_by.replace(' ', '-')}-{what}-{digest}.json")


# -- decoding ------------------------------------------------------------------------------------


def _fields(where: str, cls: type[Any], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TraceError(f"{where}: expected an object, found {type(data).__name__}")
    names = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise TraceError(f"{where}: unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    return dict(data)


def _typecheck(where: str, cls: type[Any], data: dict[str, Any]) -> None:
    """Values of the simple types the records use (int, bool, str, a Literal, or None where
    allowed); containers are checked by their own decoders."""
    types = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    for key, value in data.items():
        expected = types[key]
        options = (
            typing.get_args(expected)
            if typing.get_origin(expected) in (typing.Union, types_mod.UnionType)
            else (expected,)
        )
        if value is None and type(None) in options:
            continue
        ok = False
        for opt in options:
            if typing.get_origin(opt) is typing.Literal:
                ok = ok or value in typing.get_args(opt)
            elif opt is bool:
                ok = ok or isinstance(value, bool)
            elif opt is int:
                ok = ok or (isinstance(value, int) and not isinstance(value, bool))
            elif opt is str:
                ok = ok or isinstance(value, str)
            else:  # a container or record, decoded elsewhere
                ok = True
        if not ok:
            raise TraceError(f"{where}: {key}={value!r} is not a valid {cls.__name__}.{key}")


def _make(where: str, cls: type[Any], data: dict[str, Any]) -> Any:
    _typecheck(where, cls, data)
    try:
        return cls(**data)
    except TypeError as err:
        raise TraceError(f"{where}: {err}") from None


def _sock(where: str, data: Any) -> Sock:
    fields = _fields(where, Sock, data)
    if fields.get("owner") is not None or fields.get("sk_receive_queue") or fields.get("sk_error_queue"):
        raise TraceError(f"{where}: a socket at boot has no task and empty queues")
    fields.pop("owner", None)
    ops = fields.pop("ops", [])
    rx = fields.pop("rx", [])
    if not isinstance(ops, list) or not isinstance(rx, list):
        raise TraceError(f"{where}: ops and rx must be lists")
    _within(where, "the number of packets (rx)", len(rx), TRACE_PACKETS)
    _within(where, "the number of system calls (ops)", len(ops), TRACE_PACKETS)
    fields["ops"] = tuple(
        _make(f"{where}.ops[{i}]", UserOp, _fields(f"{where}.ops[{i}]", UserOp, o)) for i, o in enumerate(ops)
    )
    fields["rx"] = tuple(
        _make(f"{where}.rx[{i}]", Incoming, _fields(f"{where}.rx[{i}]", Incoming, p)) for i, p in enumerate(rx)
    )
    for key in ("sk_receive_queue", "sk_error_queue"):
        fields[key] = tuple(fields.get(key, ()))
    return _make(where, Sock, fields)  # type: ignore[no-any-return]


def _action(where: str, data: Any) -> Action:
    if not isinstance(data, dict) or "type" not in data:
        raise TraceError(f"{where}: an action is an object with a 'type'")
    args = dict(data)
    name = args.pop("type")
    cls = ACTIONS.get(name)
    if cls is None:
        raise TraceError(f"{where}: unknown action {name!r}")
    for key, value in args.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TraceError(f"{where}: {name}.{key} must be an integer")
    return _make(where, cls, _fields(where, cls, args))  # type: ignore[no-any-return]


def _verdict_from(where: str, data: Any) -> Verdict | None:
    if data is None:
        return None
    from properties.findings import FINDINGS

    shape = f"{where}: expected null or {{invariant: <a known invariant or null>, step: <int>, findings: [<Fn>...]}}"
    if not isinstance(data, dict) or not isinstance(data.get("step"), int):
        raise TraceError(shape)
    invariant, found = data.get("invariant"), data.get("findings", [])
    if not isinstance(found, list) or not all(isinstance(f, str) and f in FINDINGS for f in found):
        raise TraceError(f"{where}: findings must be a list of known finding ids ({', '.join(FINDINGS)})")
    if (invariant is None and not found) or (invariant is not None and invariant not in REGISTRY):
        raise TraceError(shape)
    return Verdict(invariant, str(data.get("message", "")), data["step"], bool(data.get("quiescent", False)),
                   tuple(found))  # fmt: skip


def _within(where: str, what: str, value: int, limit: Limit) -> None:
    problem = check_int(what, value, limit)
    if problem is not None:
        raise TraceError(f"{where}: {problem}")


def decode(data: Any, source: str = "trace") -> Trace:
    if not isinstance(data, dict):
        raise TraceError(f"{source}: a trace is a JSON object")
    if data.get("schema") != SCHEMA:
        raise TraceError(f"{source}: not a tcpclose trace (schema {data.get('schema')!r})")
    if data.get("spec_format") != SPEC_FORMAT:
        raise TraceError(
            f"{source}: written for spec format {data.get('spec_format')!r}, this tcpclose reads format {SPEC_FORMAT}"
        )
    b = data.get("boot")
    if not isinstance(b, dict):
        raise TraceError(f"{source}: boot: missing")
    config = _make(f"{source}: boot.config", Config, _fields(f"{source}: boot.config", Config, b.get("config", {})))
    env_data = _fields(f"{source}: boot.env", Env, b.get("env", {}))
    env_data["defer_max_values"] = tuple(env_data.get("defer_max_values", ()))
    tx = env_data.get("tx_completions", ())
    if not isinstance(tx, list | tuple) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(c, int) for c in p) for p in tx
    ):
        raise TraceError(f"{source}: boot.env.tx_completions must be a list of [built on, completed on] CPU pairs")
    env_data["tx_completions"] = tuple(tuple(p) for p in tx)
    env = _make(f"{source}: boot.env", Env, env_data)
    cpu_nodes = b.get("cpu_nodes")
    if not isinstance(cpu_nodes, list) or not all(isinstance(n, int) for n in cpu_nodes):
        raise TraceError(f"{source}: boot.cpu_nodes must be a list of node numbers")
    _within(source, "the number of CPUs (boot.cpu_nodes)", len(cpu_nodes), TRACE_CPUS)
    defer_max = b.get("skb_defer_max")
    if not isinstance(defer_max, int):
        raise TraceError(f"{source}: boot.skb_defer_max must be an integer")
    socks_data = b.get("sockets")
    if not isinstance(socks_data, list):
        raise TraceError(f"{source}: boot.sockets must be a list")
    _within(source, "the number of sockets (boot.sockets)", len(socks_data), TRACE_SOCKETS)
    socks = [_sock(f"{source}: boot.sockets[{i}]", s) for i, s in enumerate(socks_data)]
    try:
        initial = boot(config, cpu_nodes, defer_max, socks, env)
    except SpecError as err:
        raise TraceError(f"{source}: boot: {err}") from None
    acts = data.get("actions")
    if not isinstance(acts, list):
        raise TraceError(f"{source}: actions must be a list")
    _within(source, "the number of actions", len(acts), TRACE_ACTIONS)
    actions = tuple(_action(f"{source}: actions[{i}]", a) for i, a in enumerate(acts))
    mutant = data.get("mutant")
    if mutant is not None:
        from properties.mutants import ALL_MUTANTS

        if mutant not in ALL_MUTANTS:
            raise TraceError(f"{source}: unknown mutant {mutant!r}")
    kernel = data.get("kernel")
    if kernel is not None:
        if kernel not in kernels.KERNELS:
            raise TraceError(f"{source}: unknown kernel {kernel!r} (tcpclose kernels lists them)")
        if kernel not in kernels.matching(config):
            raise TraceError(f"{source}: boot.config does not hold the switches of kernel {kernel}")
    return Trace(
        initial=initial,
        actions=actions,
        kernel=kernel,
        found_by=str(data.get("found_by", "manual")),
        mutant=mutant,
        violation=_verdict_from(f"{source}: violation", data.get("violation")),
        expect_on_spec=_verdict_from(f"{source}: expect_on_spec", data.get("expect_on_spec")),
        note=str(data.get("note", "")),
    )


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, refused before reading when it is not a regular file (``/dev/zero``, a
    FIFO, which would block) or is larger than ``TRACE_BYTES``; at most the limit plus one byte is
    ever read."""
    limit = int(TRACE_BYTES.hi)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise TraceError(f"{path}: not a regular file; a trace is a JSON file")
        if info.st_size > limit:
            raise TraceError(
                f"{path}: {info.st_size:,} bytes, over the {limit:,}-byte limit for traces: {TRACE_BYTES.reason}"
            )
        with path.open("rb") as f:
            raw = f.read(limit + 1)
    except OSError as err:
        raise TraceError(f"{path}: cannot read: {err.strerror or err}") from None
    if len(raw) > limit:  # it grew while we looked
        raise TraceError(f"{path}: over the {limit:,}-byte limit for traces: {TRACE_BYTES.reason}")
    return raw


def _text(path: Path, raw: bytes) -> str:
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in raw[:4]:
        raise TraceError(f"{path}: UTF-16 or UTF-32 text (or binary); a trace is UTF-8 JSON (iconv -t UTF-8 converts)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise TraceError(f"{path}: not UTF-8 text (byte {err.start}); a trace is a JSON file") from None


def _check_numbers(path: Path, data: Any) -> None:
    """Every integer a trace holds fits the kernel's widest field (64 bits); walked without
    recursion, so that the depth JSON allowed cannot overflow Python's stack here."""
    todo = [data]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > INT64:
            raise TraceError(f"{path}: the number {str(node)[:12]}... ({len(str(node))} digits) fits no kernel field")


def load(path: Path) -> Trace:
    raw = _read_bounded(path)
    text = _text(path, raw)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise TraceError(f"{path}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise TraceError(f"{path}: JSON nested too deeply to be a trace") from None
    except ValueError as err:  # an integer literal of more than 4300 digits
        raise TraceError(f"{path}: not a trace: {str(err).splitlines()[0]}") from None
    _check_numbers(path, data)
    return decode(data, str(path))


# -- replay --------------------------------------------------------------------------------------


def replay(t: Trace, *, with_mutant: bool = True) -> Verdict:
    """Check the trace's run with the spec's ``step`` (under its mutant unless told otherwise).
    An action that is not enabled where the trace applies it is a TraceError naming the step."""
    from properties.mutants import ALL_MUTANTS

    mutant = ALL_MUTANTS[t.mutant] if (with_mutant and t.mutant) else None
    try:
        if mutant is None:
            return check_run(t.initial, t.actions)
        with mutant.applied():
            return check_run(t.initial, t.actions)
    except NotEnabledAt as err:
        raise TraceError(str(err)) from None
