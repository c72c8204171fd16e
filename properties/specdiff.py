"""``tcpclose spec-diff [REV]``: what changed in the spec's behaviour between a git revision and
the working tree.

Three looks, from the most precise to the broadest:

1. Functions. Every module of ``spec/`` is parsed in both trees; the top-level functions, classes
   and module-level definitions whose code differs (``ast.dump`` without docstrings: formatting
   and comments do not count) are listed, with the functions that call or read a changed name in
   the same module ("affected"). A function found only in the old tree and one found only in the
   new tree with the same code are a rename. For each changed or affected *pure* function (its
   module imports nothing but ``__future__``, its parameters and result are ``int``/``bool``:
   spec/rules.py) ``crosshair diffbehavior`` compares the old and the new version, restricted to
   inputs that satisfy both versions' ``pre:`` conditions, and every differing input is printed
   with both results, or "no difference found in N s". Other changes are compared by replay.
2. Traces. Every trace of the regression corpus (tests/counterexamples/*.json of the working
   tree) is replayed with the plain spec (no mutant, no invariant) of each tree, in a subprocess
   with that tree first on ``sys.path``; after each step the state and the enabled actions are
   written down, and the first step where the two trees disagree is reported with the fields
   that differ.
3. Small configurations. If the working tree has ``model/small.py``, each of its ``SMALL``
   configurations is built there, handed to both trees as ``spec.boot()`` arguments, and
   explored breadth-first with each tree's ``enabled``/``step``; the distinct-state and
   transition counts (and a digest of the states in discovery order) are compared.

The old tree is a temporary ``git worktree`` (detached at REV), removed afterwards whatever
happens. Exit status of ``main``: 0 no behavioural difference, 1 a difference (a crosshair
witness, a diverging trace or a different exploration), 2 bad input (one line, no traceback).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import attrs

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT = 20.0  # CPU seconds crosshair may spend on one function pair
EXPLORE_CAP = 20_000  # distinct states per small configuration and tree
_PURE_TYPES = frozenset({"int", "bool"})
_OUTSIDE = "outside the precondition"

Kind = Literal["changed", "affected", "added", "removed", "renamed", "docstring"]


class SpecDiffError(Exception):
    """Bad input (an unknown revision, not a git repository): one line."""


@attrs.frozen
class Witness:
    """An input where the two versions differ, with what each does."""

    inputs: str
    old: str
    new: str


@attrs.frozen
class FunctionDiff:
    """One top-level definition of a spec module that differs between the trees."""

    module: str  # "spec.rules"
    name: str  # the new name (the old one for a removed definition)
    kind: Kind
    old_name: str | None = None  # for a rename
    compared: bool = False  # crosshair diffbehavior ran on it
    witnesses: tuple[Witness, ...] = ()
    seconds: float = 0.0
    note: str = ""

    @property
    def differs(self) -> bool:
        return bool(self.witnesses)


@attrs.frozen
class TraceDiff:
    """One corpus trace replayed in both trees: ``step`` is the first diverging step (0 is the
    initial state or the loading of the file), None when both trees agree."""

    name: str
    steps: int
    step: int | None = None
    action: str = ""
    detail: tuple[str, ...] = ()


@attrs.frozen
class ExploreDiff:
    """One small configuration explored in both trees: (distinct states, transitions, complete)."""

    name: str
    old: tuple[int, int, bool] | None
    new: tuple[int, int, bool] | None
    same: bool
    note: str = ""


@attrs.frozen
class SpecDiffReport:
    rev: str
    commit: str
    functions: tuple[FunctionDiff, ...]
    traces: tuple[TraceDiff, ...]
    explored: tuple[ExploreDiff, ...]
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Behaviour changed: a crosshair witness, a diverging trace or a different exploration."""
        return (
            any(f.differs for f in self.functions)
            or any(t.step is not None for t in self.traces)
            or any(not e.same for e in self.explored)
        )


# -- git -----------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except OSError as err:
        raise SpecDiffError(f"cannot run git: {err.strerror}") from None


def resolve(repo: Path, rev: str) -> str:
    """The commit ``rev`` names in ``repo``; SpecDiffError if there is none."""
    if _git(repo, "rev-parse", "--git-dir").returncode != 0:
        raise SpecDiffError(f"not a git repository: {repo}")
    if rev.startswith("-"):
        raise SpecDiffError(f"unknown revision {rev}")
    done = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if done.returncode != 0 or not done.stdout.strip():
        raise SpecDiffError(f"unknown revision {rev}")
    return done.stdout.strip()


@contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """A temporary detached worktree of ``repo`` at ``commit``, removed on the way out."""
    parent = Path(tempfile.mkdtemp(prefix="tcpclose-specdiff-"))
    path = parent / "old"
    try:
        done = _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
        if done.returncode != 0:
            raise SpecDiffError(f"git worktree add failed: {done.stderr.strip().splitlines()[-1:]}")
        yield path
    finally:
        _git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune")


# -- which definitions changed -------------------------------------------------------------------


@attrs.frozen
class _Def:
    name: str
    node: ast.stmt | None  # None for the group of module statements
    code: str  # ast.dump without docstrings
    full: str  # ast.dump with docstrings
    uses: frozenset[str]


def _without_docstrings(tree: ast.AST) -> ast.AST:
    tree = ast.parse(ast.unparse(tree))  # a copy
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _names(node: ast.AST) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))


def _definitions(source: str) -> dict[str, _Def]:
    """Top-level functions, classes and assigned names of a module, and one entry
    ``<module statements>`` for everything else (imports, expressions)."""
    tree = ast.parse(source)
    defs: dict[str, _Def] = {}
    rest: list[ast.stmt] = []
    for stmt in tree.body:
        names: list[str] = []
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [stmt.name]
        elif isinstance(stmt, ast.Assign):
            names = [n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names = [stmt.target.id]
        if not names:
            if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):  # module docstring
                rest.append(stmt)
            continue
        for name in names:
            defs[name] = _Def(name, stmt, ast.dump(_without_docstrings(stmt)), ast.dump(stmt), _names(stmt) - {name})
    module = ast.Module(body=rest, type_ignores=[])
    dump = ast.dump(module)
    defs["<module statements>"] = _Def("<module statements>", None, dump, dump, frozenset())
    return defs


def _is_pure_module(source: str) -> bool:
    """Imports nothing but ``__future__``: a copy of it is a standalone module."""
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Import):
            return False
        if isinstance(stmt, ast.ImportFrom) and stmt.module != "__future__":
            return False
    return True


def _is_pure_function(node: ast.stmt | None) -> bool:
    if not isinstance(node, ast.FunctionDef):
        return False
    a = node.args
    if a.vararg or a.kwarg or a.posonlyargs or a.kwonlyargs or not a.args:
        return False
    annotations = [p.annotation for p in a.args] + [node.returns]
    return all(x is not None and ast.unparse(x) in _PURE_TYPES for x in annotations)


def _preconditions(node: ast.FunctionDef) -> list[str]:
    out = []
    for line in (ast.get_docstring(node) or "").splitlines():
        line = line.strip()
        if line.startswith("pre:"):
            expr = line[len("pre:") :].strip()
            try:
                ast.parse(expr, mode="eval")
            except SyntaxError:
                continue
            out.append(expr)
    return out


def _spec_modules(root: Path) -> dict[str, str]:
    spec = root / "spec"
    if not spec.is_dir():
        return {}
    return {f"spec.{p.stem}" if p.stem != "__init__" else "spec": p.read_text() for p in sorted(spec.glob("*.py"))}


def _changed_definitions(module: str, old_src: str, new_src: str) -> tuple[list[FunctionDiff], list[tuple[str, str]]]:
    """The differing definitions of one module, and the (old name, new name) pairs of the pure
    functions to compare with crosshair."""
    try:
        old, new = _definitions(old_src), _definitions(new_src)
    except SyntaxError as err:
        return [FunctionDiff(module, "<module>", "changed", note=f"cannot parse: {err.msg} (line {err.lineno})")], []
    out: list[FunctionDiff] = []
    pairs: list[tuple[str, str]] = []
    pure_module = _is_pure_module(old_src) and _is_pure_module(new_src)
    changed: set[str] = set()
    for name in sorted(set(old) & set(new)):
        if old[name].code != new[name].code:
            changed.add(name)
        elif old[name].full != new[name].full:
            out.append(
                FunctionDiff(
                    module, name, "docstring", note="docstring only (contracts are checked by crosshair check)"
                )
            )
    removed = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    renamed: dict[str, str] = {}  # new -> old
    for r in removed:
        for a in added:
            if a not in renamed and _same_but_name(old[r], new[a]):
                renamed[a] = r
                break
    changed |= {a for a in added if a not in renamed} | {r for r in removed if r not in renamed.values()}
    # Affected: definitions in both trees that use a changed name (transitively), in the new tree.
    affected: set[str] = set()
    grew = True
    while grew:
        grew = False
        for name in set(old) & set(new):
            if name not in changed and name not in affected and new[name].uses & (changed | affected | set(renamed)):
                affected.add(name)
                grew = True
    for name in sorted(changed | affected | set(renamed)):
        if name in renamed:
            kind: Kind = "renamed"
            old_name = renamed[name]
            node = new[name].node
        elif name in removed:
            out.append(FunctionDiff(module, name, "removed", note="only in the old tree"))
            continue
        elif name in added:
            out.append(FunctionDiff(module, name, "added", note="only in the working tree"))
            continue
        else:
            kind = "affected" if name in affected else "changed"
            old_name = name
            node = new[name].node
        old_node = old[old_name].node
        if not (pure_module and _is_pure_function(node) and _is_pure_function(old_node)):
            what = (
                "not a pure function" if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else "not a function"
            )
            out.append(FunctionDiff(module, name, kind, old_name, note=f"{what}; compared by trace replay below"))
            continue
        assert isinstance(node, ast.FunctionDef) and isinstance(old_node, ast.FunctionDef)
        if [p.arg for p in node.args.args] != [p.arg for p in old_node.args.args]:
            out.append(
                FunctionDiff(module, name, kind, old_name, note="signature changed; compared by trace replay below")
            )
            continue
        pairs.append((old_name, name))
        out.append(FunctionDiff(module, name, kind, old_name))
    return out, pairs


def _same_but_name(old: _Def, new: _Def) -> bool:
    if not isinstance(old.node, ast.FunctionDef | ast.ClassDef) or type(old.node) is not type(new.node):
        return False
    a = _without_docstrings(old.node)
    b = _without_docstrings(new.node)
    assert isinstance(a, ast.Module) and isinstance(b, ast.Module)
    fa, fb = a.body[0], b.body[0]
    assert isinstance(fa, ast.FunctionDef | ast.ClassDef) and isinstance(fb, ast.FunctionDef | ast.ClassDef)
    fb.name = fa.name
    return ast.dump(fa) == ast.dump(fb)


# -- crosshair diffbehavior ----------------------------------------------------------------------

_GIVEN = re.compile(r"^Given: \((?P<inputs>.*)\),\n\s*\S+ : (?P<old>.*)\n\s*\S+ : (?P<new>.*)$", re.MULTILINE)


def _wrapper(node: ast.FunctionDef, target: str, pres: Sequence[str]) -> str:
    """A function with ``node``'s signature that calls ``target`` on the inputs satisfying every
    precondition in ``pres`` and raises the same ValueError on the others (equal behaviour)."""
    params = ", ".join(f"{p.arg}: {ast.unparse(p.annotation)}" for p in node.args.args if p.annotation)
    args = ", ".join(p.arg for p in node.args.args)
    returns = ast.unparse(node.returns) if node.returns else "object"
    cond = " and ".join(f"({p})" for p in pres) or "True"
    return (
        f"\n\ndef _specdiff_{target}({params}) -> {returns}:\n"
        f"    if not ({cond}):\n"
        f"        raise ValueError({_OUTSIDE!r})\n"
        f"    return {target}({args})\n"
    )


def _diffbehavior(
    module: str, old_src: str, new_src: str, pairs: Sequence[tuple[str, str]], timeout: float, workdir: Path
) -> dict[str, tuple[tuple[Witness, ...], float, str]]:
    """Run crosshair diffbehavior on each (old name, new name) pair: new name -> (witnesses,
    seconds, note)."""
    old_defs, new_defs = ast.parse(old_src), ast.parse(new_src)
    old_fns = {n.name: n for n in old_defs.body if isinstance(n, ast.FunctionDef)}
    new_fns = {n.name: n for n in new_defs.body if isinstance(n, ast.FunctionDef)}
    stem = module.replace(".", "_")
    old_mod, new_mod = f"specdiff_old_{stem}", f"specdiff_new_{stem}"
    old_text, new_text = old_src, new_src
    for old_name, new_name in pairs:
        pres = _preconditions(old_fns[old_name]) + _preconditions(new_fns[new_name])
        old_text += _wrapper(old_fns[old_name], old_name, pres)
        new_text += _wrapper(new_fns[new_name], new_name, pres)
    (workdir / f"{old_mod}.py").write_text(old_text)
    (workdir / f"{new_mod}.py").write_text(new_text)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(workdir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    out: dict[str, tuple[tuple[Witness, ...], float, str]] = {}
    for old_name, new_name in pairs:
        cmd = [
            sys.executable,
            "-m",
            "crosshair",
            "diffbehavior",
            f"--per_condition_timeout={timeout}",
            f"{old_mod}._specdiff_{old_name}",
            f"{new_mod}._specdiff_{new_name}",
        ]
        start = time.monotonic()
        try:
            done = subprocess.run(
                cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=2 * timeout + 60, check=False
            )
        except subprocess.TimeoutExpired:
            out[new_name] = ((), time.monotonic() - start, "crosshair did not finish in time; compared by trace replay")
            continue
        seconds = time.monotonic() - start
        witnesses = tuple(
            Witness(m["inputs"], _result(m["old"]), _result(m["new"])) for m in _GIVEN.finditer(done.stdout)
        )
        witnesses = tuple(w for w in witnesses if _OUTSIDE not in w.old + w.new)
        if witnesses:
            note = ""
        elif done.returncode == 0 and "All paths exhausted" in done.stdout:
            note = f"no difference found in {seconds:.1f} s (all paths exhausted)"
        elif done.returncode in (0, 1):
            note = f"no difference found in {seconds:.1f} s"
        else:
            lines = (done.stderr or done.stdout).strip().splitlines()
            note = f"crosshair could not compare it ({lines[-1] if lines else f'exit {done.returncode}'})"
        out[new_name] = (witnesses, seconds, note)
    return out


def _result(text: str) -> str:
    return text.strip()


# -- replay in each tree -------------------------------------------------------------------------

# Run with ``python -c`` in a tree: argv[1] the tree, argv[2] a JSON request. Uses nothing of the
# tree but spec (boot, enabled, step) and properties.traces.decode, so that two versions of the
# spec print comparable records: per trace, the state (attrs.asdict) and the enabled actions
# after each step; per small configuration, a breadth-first exploration's counts.
_REPLAY = r"""
import hashlib, json, sys, time
root, request = sys.argv[1], json.load(open(sys.argv[2]))
sys.path.insert(0, root)
import attrs
try:
    import spec
    from spec import enabled, step, SpecError
    import_error, spec_file = None, spec.__file__
except Exception as err:  # the tree's spec does not import: every trace says so
    import_error, spec_file = f"{type(err).__name__}: {err}", None
    class SpecError(Exception):
        pass

class Broken(Exception):
    pass

def describe(err):
    return str(err) if isinstance(err, Broken) else f"{type(err).__name__}: {err}"

def plain(x):
    return json.loads(json.dumps(attrs.asdict(x, recurse=True), default=repr))

def record(state):
    return {"state": plain(state), "enabled": [repr(a) for a in enabled(state)]}

def strip(data):
    # Fields a newer spec added (to Config, Env, Sock) and that a trace sets to the newer spec's
    # default are left out for an older spec, which then runs with its own behaviour: any
    # difference that makes is what the comparison is for. A field set to anything else stays, and
    # the older tree refuses the trace.
    import spec.state as S
    defaults, boot = request.get("new_defaults") or {}, data.get("boot") or {}
    sections = [("config", S.Config, boot.get("config")), ("env", S.Env, boot.get("env"))]
    sections += [("sock", S.Sock, sock) for sock in boot.get("sockets") or []]
    for key, cls, section in sections:
        if not isinstance(section, dict):
            continue
        known = {f.name for f in attrs.fields(cls)}
        for name in [n for n in section if n not in known]:
            if name in defaults.get(key, {}) and defaults[key][name] == section[name]:
                del section[name]
    return data

def load(data, source):
    from properties import traces
    return traces.decode(strip(data), source)

out = {"spec": spec_file, "traces": {}, "small": {}, "boots": {}}
for path in request["traces"]:
    name = path.rsplit("/", 1)[-1]
    steps = []
    try:
        if import_error:
            raise Broken(import_error)
        with open(path) as f:
            data = json.load(f)
        data = dict(data, mutant=None)
        trace = load(data, name)
        state = trace.initial
        steps.append({"action": "boot", **record(state)})
        for action in trace.actions:
            try:
                state = step(state, action)
            except SpecError as err:
                steps.append({"action": repr(action), "error": describe(err)})
                break
            steps.append({"action": repr(action), **record(state)})
    except Exception as err:
        steps.append({"action": "load" if not steps else "?", "error": describe(err)})
    out["traces"][name] = steps

if request.get("build_small"):  # the working tree: also its defaults, for the old tree's strip()
    import spec.state as S
    out["defaults"] = {
        key: {f.name: json.loads(json.dumps(f.default, default=repr)) for f in attrs.fields(cls)
              if f.default is not attrs.NOTHING and not isinstance(f.default, attrs.Factory)}
        for key, cls in (("config", S.Config), ("env", S.Env), ("sock", S.Sock))
    }
    try:
        from model.small import SMALL
        from properties.traces import _boot_args
        for name, cfg in SMALL.items():
            out["boots"][name] = json.loads(json.dumps(_boot_args(cfg.build())))
    except Exception as err:
        out["small_error"] = f"{type(err).__name__}: {err}"

cap = request["cap"]
for name, boot_args in (request.get("boots") or out["boots"]).items():
    try:
        if import_error:
            raise Broken(import_error)
        data = {"schema": "tcpclose-trace", "spec_format": request["spec_format"], "boot": boot_args, "actions": []}
        initial = load(data, name).initial
        seen = {initial}
        frontier = [initial]
        transitions = 0
        digest = hashlib.sha256()
        while frontier and len(seen) < cap:
            following = []
            for state in frontier:
                for action in enabled(state):
                    nxt = step(state, action)
                    transitions += 1
                    if nxt not in seen:
                        seen.add(nxt)
                        following.append(nxt)
                        digest.update(repr(nxt).encode())
            frontier = following
        out["small"][name] = {"states": len(seen), "transitions": transitions, "complete": not frontier,
                              "digest": digest.hexdigest()}
    except Exception as err:
        out["small"][name] = {"error": describe(err)}
print(json.dumps(out))
"""


def _run_replay(root: Path, request: dict[str, Any], workdir: Path, tag: str) -> dict[str, Any]:
    req = workdir / f"request-{tag}.json"
    req.write_text(json.dumps(request))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _REPLAY, str(root), str(req)],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": "the replay did not finish in 600 s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout)
    if result.get("spec") and not Path(result["spec"]).resolve().is_relative_to(root.resolve()):
        return {"error": f"the replay imported the spec from {result['spec']}, not from {root}"}
    return result


def _field_diffs(old: Any, new: Any, path: str = "") -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from _field_diffs(
                old.get(key, "<absent>"), new.get(key, "<absent>"), f"{path}.{key}" if path else key
            )
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _field_diffs(a, b, f"{path}[{i}]")
    elif old != new:
        yield f"{path}: {_short(old)} -> {_short(new)}"


def _short(value: Any, limit: int = 100) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compare_trace(name: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> TraceDiff:
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else {"action": "<end>", "error": "the old run stops earlier"}
        b = new[i] if i < len(new) else {"action": "<end>", "error": "the new run stops earlier"}
        if a == b:
            continue
        detail: list[str] = []
        if "error" in a or "error" in b:
            detail = [f"old: {a.get('error', 'steps on')}", f"new: {b.get('error', 'steps on')}"]
        else:
            if a["action"] != b["action"]:
                detail.append(f"action: {a['action']} -> {b['action']}")
            detail += list(_field_diffs(a["state"], b["state"], "state"))
            if a["enabled"] != b["enabled"]:
                gone = [x for x in a["enabled"] if x not in b["enabled"]]
                came = [x for x in b["enabled"] if x not in a["enabled"]]
                detail.append(
                    f"enabled: {', '.join(gone) or 'nothing'} only in the old tree; "
                    f"{', '.join(came) or 'nothing'} only in the new tree"
                    if gone or came
                    else "enabled: same actions, another order"
                )
        return TraceDiff(name, len(new), i, b.get("action", a.get("action", "")), tuple(detail))
    return TraceDiff(name, len(new))


# -- the whole comparison ------------------------------------------------------------------------


def spec_diff(
    rev: str = "HEAD",
    *,
    repo: Path = PROJECT,
    timeout: float = DEFAULT_TIMEOUT,
    explore_cap: int = EXPLORE_CAP,
) -> SpecDiffReport:
    """Compare the spec of ``repo``'s working tree with its spec at ``rev``.
    Raises SpecDiffError for an unknown revision or a directory that is not a git repository."""
    repo = repo.resolve()
    commit = resolve(repo, rev)
    with worktree(repo, commit) as old_root, tempfile.TemporaryDirectory(prefix="tcpclose-specdiff-") as tmp:
        workdir = Path(tmp)
        notes: list[str] = []
        old_mods, new_mods = _spec_modules(old_root), _spec_modules(repo)
        functions: list[FunctionDiff] = []
        for module in sorted(set(old_mods) | set(new_mods)):
            if module not in new_mods:
                functions.append(FunctionDiff(module, "<module>", "removed", note="only in the old tree"))
                continue
            if module not in old_mods:
                functions.append(FunctionDiff(module, "<module>", "added", note="only in the working tree"))
                continue
            if old_mods[module] == new_mods[module]:
                continue
            diffs, pairs = _changed_definitions(module, old_mods[module], new_mods[module])
            results = (
                _diffbehavior(module, old_mods[module], new_mods[module], pairs, timeout, workdir) if pairs else {}
            )
            for d in diffs:
                if d.name in results and d.old_name is not None:
                    witnesses, seconds, note = results[d.name]
                    d = attrs.evolve(d, compared=True, witnesses=witnesses, seconds=seconds, note=note)
                functions.append(d)

        corpus = sorted((repo / "tests" / "counterexamples").glob("*.json"))
        spec_format = _spec_format(repo)
        request: dict[str, Any] = {
            "traces": [str(p) for p in corpus],
            "build_small": True,
            "cap": explore_cap,
            "spec_format": spec_format,
        }
        new_out = _run_replay(repo, request, workdir, "new")
        if "error" in new_out:
            raise SpecDiffError(f"the working tree's spec cannot replay: {new_out['error']}")
        boots: dict[str, Any] = new_out.get("boots", {})
        if "small_error" in new_out:
            notes.append(f"small configurations skipped: {new_out['small_error']}")
        elif not boots:
            notes.append("small configurations skipped: the working tree has no model/small.py")
        old_request = {**request, "build_small": False, "boots": boots, "new_defaults": new_out.get("defaults", {})}
        old_out = _run_replay(old_root, old_request, workdir, "old")
        if "error" in old_out:
            notes.append(f"the old tree cannot replay: {old_out['error']}")
            old_out = {"traces": {}, "small": {}}
        traces = tuple(
            _compare_trace(p.name, old_out["traces"].get(p.name, [{"action": "load", "error": "not run"}]), steps)
            for p in corpus
            for steps in [new_out["traces"].get(p.name, [])]
        )
        explored = tuple(_compare_small(name, old_out["small"].get(name), new_out["small"].get(name)) for name in boots)
    return SpecDiffReport(rev, commit, tuple(functions), traces, explored, tuple(notes))


def _spec_format(repo: Path) -> int:
    try:
        tree = ast.parse((repo / "properties" / "traces.py").read_text())
    except (OSError, SyntaxError):
        return 1
    for stmt in tree.body:
        named = isinstance(stmt, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SPEC_FORMAT" for t in stmt.targets
        )
        value = stmt.value if isinstance(stmt, ast.Assign) else None
        if named and isinstance(value, ast.Constant) and isinstance(value.value, int):
            return value.value
    return 1


def _compare_small(name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> ExploreDiff:
    def counts(r: dict[str, Any] | None) -> tuple[int, int, bool] | None:
        return None if r is None or "error" in r else (r["states"], r["transitions"], r["complete"])

    a, b = counts(old), counts(new)
    if a is None or b is None:
        errors = [
            f"{side}: {r['error'] if r else 'not run'}"
            for side, r in (("old", old), ("new", new))
            if not r or "error" in r
        ]
        return ExploreDiff(name, a, b, same=a is None and b is None, note="; ".join(errors))
    assert old is not None and new is not None
    same = a == b and old["digest"] == new["digest"]
    note = "" if same or a != b else "same counts, other states"
    return ExploreDiff(name, a, b, same, note)


# -- output --------------------------------------------------------------------------------------


def render(report: SpecDiffReport) -> str:
    lines = [f"spec-diff {report.rev} ({report.commit[:12]}) -> working tree", "", "spec functions:"]
    if not report.functions:
        lines.append("  no function of spec/ changed")
    for f in report.functions:
        what = {"renamed": f"renamed from {f.old_name}", "affected": "affected: uses a changed definition"}.get(
            f.kind, f.kind
        )
        head = f"  {f.module}.{f.name} ({what})"
        if f.witnesses:
            lines.append(f"{head}: behaviour differs (crosshair diffbehavior)")
            for w in f.witnesses:
                lines.append(f"    given {w.inputs}: old {w.old}; new {w.new}")
        else:
            lines.append(f"{head}: {f.note}")
    lines += ["", f"regression corpus ({len(report.traces)} traces, replayed without mutants):"]
    for t in report.traces:
        if t.step is None:
            lines.append(f"  {t.name}: same ({t.steps - 1} steps)")
        else:
            lines.append(f"  {t.name}: diverges at step {t.step} ({t.action})")
            lines += [f"    {d}" for d in t.detail[:8]]
            if len(t.detail) > 8:
                lines.append(f"    ... and {len(t.detail) - 8} more fields")
    if report.explored:
        lines += ["", "small configurations (breadth-first, enabled/step of each tree):"]
    for e in report.explored:

        def fmt(c: tuple[int, int, bool] | None) -> str:
            return "-" if c is None else f"{c[0]} states, {c[1]} transitions{'' if c[2] else ' (capped)'}"

        if e.same and e.new is not None:
            lines.append(f"  {e.name}: same ({fmt(e.new)})")
        else:
            lines.append(f"  {e.name}: {'same' if e.same else 'differs'}: old {fmt(e.old)}; new {fmt(e.new)}")
        if e.note:
            lines.append(f"    {e.note}")
    lines += [f"note: {n}" for n in report.notes]
    lines += ["", "behaviour changed" if report.changed else "no behavioural difference found"]
    return "\n".join(lines)


def default_repo() -> Path:
    """The git work tree around the current directory if it holds a spec (the project being
    edited), else the tree this module was loaded from."""
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    except OSError:
        return PROJECT
    top = Path(done.stdout.strip()) if done.returncode == 0 else None
    return top if top is not None and (top / "spec" / "rules.py").is_file() else PROJECT


def main(rev: str = "HEAD", repo: Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Print the report; 0 no behavioural difference, 1 a difference, 2 bad input (one line)."""
    try:
        report = spec_diff(rev, repo=repo or default_repo(), timeout=timeout)
    except SpecDiffError as err:
        print(f"tcpclose: {err}", file=sys.stderr)
        return 2
    print(render(report))
    return 1 if report.changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "HEAD"))
