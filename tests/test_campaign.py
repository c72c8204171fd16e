"""``tcpclose fuzz``: workers share one example database. A failure one worker finds (planted with
a mutant, so that there is one to find) is replayed first by the next worker, from a real Redis
server; covering examples are saved and replayed too; HypoFuzz finds every machine; the ci profile
stays derandomized, without a database."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from properties import traces
from properties.machines import MACHINES
from tests.conftest import WORKER
from tests.test_replay import ROOT, tcpclose

# A mutant the close machine catches within a few examples (a field written after the hand-off).
MUTANT, INVARIANT = "clear_after_push", "no_touch_after_handoff"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A logical database of the Redis server at $TCPCLOSE_REDIS_URL (.ci/run starts one), one per
    pytest-xdist worker, emptied first."""
    base = os.environ.get("TCPCLOSE_REDIS_URL")
    if not base:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but TCPCLOSE_REDIS_URL is not set (.ci/run starts redis-server and sets it)")
        pytest.skip(
            "no Redis server: install redis-server (Debian package), start it on a loopback port and set "
            "TCPCLOSE_REDIS_URL=redis://127.0.0.1:PORT"
        )
    import redis

    url = f"{base.rstrip('/')}/{1 + int(WORKER.removeprefix('gw')) % 15 if WORKER else 1}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    return tcpclose("fuzz", "--workers", "1", "--machine", "close", *args, columns="200")


def test_a_failure_one_worker_finds_is_replayed_first_by_the_next(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path))
    first = fuzz("--minutes", "1", "--mutant", MUTANT, "--db", redis_url)
    assert first.returncode == 1, first.stdout + first.stderr
    assert f"w0 close: NEW failure: invariant {INVARIANT}" in first.stdout, first.stdout
    assert "replayed from the database: nothing" in first.stdout
    keys = redis.Redis.from_url(redis_url).keys("hypothesis-example:*")
    assert keys, "the failing example is in Redis"

    second = fuzz("--minutes", "1", "--mutant", MUTANT, "--db", redis_url)
    assert second.returncode == 1, second.stdout + second.stderr
    # Found by replaying the database, before any new example: the failing example, then
    # Hypothesis's final run of it.
    assert f"w0 close: NEW failure (replayed from the database): invariant {INVARIANT}" in second.stdout
    assert "replayed from the database: 2 examples, 1 of them failing again" in second.stdout, second.stdout
    # Both runs wrote the same shrunk run: the same trace file (named by a hash of its content).
    written = sorted(tmp_path.iterdir())
    assert written and all(f"trace written to {path}" in second.stdout.replace("\n", "") for path in written)
    for path in written:
        trace = traces.load(path)
        assert trace.mutant == MUTANT and traces.replay(trace).invariant == INVARIANT
        assert traces.replay(trace, with_mutant=False).holds


def test_covering_examples_are_saved_and_replayed(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    first = fuzz("--minutes", "0.1", "--db", db)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "replayed from the database: nothing" in first.stdout
    held = re.search(r"(\d+) covering", first.stdout)
    assert held is not None and int(held.group(1)) > 0, first.stdout

    second = fuzz("--minutes", "0.1", "--db", db)
    assert second.returncode == 0, second.stdout + second.stderr
    replayed = re.search(r"replayed from the database: (\d+) examples, 0 of them failing again", second.stdout)
    assert replayed is not None and int(replayed.group(1)) > 0, second.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--workers", "0"),
        ("--minutes", "0"),
        ("--minutes", "soon"),
        ("--machine", "nope"),
        ("--mutant", "nope"),
        ("--db", "ftp://127.0.0.1/x"),
        ("--db", "README.md"),
        ("--db", "redis://127.0.0.1:1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...]) -> None:
    done = tcpclose("fuzz", *args)
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.startswith("tcpclose: ") and len(done.stderr.splitlines()) == 1, done.stderr


def test_hypofuzz_finds_every_machine() -> None:
    """HypoFuzz fuzzes only tests that are not derandomized: it runs under the dev profile."""
    if importlib.util.find_spec("hypofuzz") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but HypoFuzz is not installed (.ci/run installs '.[test,fuzz]')")
        pytest.skip("HypoFuzz is not installed: pip install -e '.[fuzz]'")
    script = (
        "import json; from hypofuzz.collection import collect_tests; "
        "print(json.dumps(sorted(t.nodeid for t in collect_tests(['tests/test_machines.py']).fuzz_targets)))"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TCPCLOSE_PROFILE": "dev"}
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found == sorted(f"tests/test_machines.py::Test{m.__name__}::runTest" for m in MACHINES.values())


def test_ci_profile_stays_derandomized_without_a_database() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None
