"""``tcpclose explore``: the figures, the exit codes, and a shortest counterexample written as a
trace that ``tcpclose replay`` reproduces."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_replay import tcpclose


def test_explore_completes_on_acceptance_naming_the_known_findings() -> None:
    done = tcpclose("explore", "--config", "acceptance")
    assert done.returncode == 0, done.stdout + done.stderr
    # A change detector: 2,216 at first; 3,402 with issue 13's spec (the read step of each attempt
    # and socket destruction add states, NET_RX runs over empty slots in one step remove some);
    # 4,305 with the ghosts of issue 11 (kicks per slot epoch, each CPU's hotplug phase).
    assert "4,305" in done.stdout
    assert done.stdout.splitlines()[-1].endswith("known findings met: F7, F3, F2")
    assert "known finding F3" in done.stdout and "step 10" in done.stdout


def test_explore_writes_the_shortest_counterexample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a planted bug (the online test asks about the wrong CPU), the explorer's failure is
    the shortest run and replays to the same step under the mutant."""
    monkeypatch.setenv("TCPCLOSE_TRACE_DIR", str(tmp_path))
    done = tcpclose("explore", "--config", "acceptance", "--mutant", "online_check_wrong_cpu")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("FAILED: defer_check_sees_online at step 5 (shortest)")
    (written,) = tmp_path.iterdir()
    replayed = tcpclose("replay", str(written), "--json")
    assert replayed.returncode == 1 and '"step": 5' in replayed.stdout


@pytest.mark.parametrize(
    ("budget", "says"),
    [
        (("--max-states", "50"), "state budget of 50 distinct states"),
        (("--max-depth", "3"), "depth budget of 3 levels"),
    ],
)
def test_explore_budget_exits_3(budget: tuple[str, ...], says: str) -> None:
    """Expected: a budget that ends the search first is exit 3 (not bad input), and says which."""
    done = tcpclose("explore", "--config", "acceptance", *budget)
    assert done.returncode == 3, done.stdout + done.stderr
    assert says in done.stdout


def test_explore_memory_budget_exits_3() -> None:
    """Expected: with --max-memory at its floor (64 MiB, about what the interpreter and its
    imports take), a search that keeps growing stops on the memory budget, with exit 3."""
    done = tcpclose("explore", "--cpus", "3", "--sockets", "2", "--skbs", "3", "--hotplug", "--max-memory", "64",
                    "--max-seconds", "60")  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert "memory budget of 64 MiB" in done.stdout


def test_explore_interrupted_exits_130() -> None:
    """Expected: Ctrl-C (SIGINT) during a search gives one line and exit 130, no traceback."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpclose", "explore", "--cpus", "3", "--sockets", "2", "--skbs", "3", "--hotplug"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == ["tcpclose: interrupted"] and "Traceback" not in out + err
