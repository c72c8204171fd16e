"""SPIN past one core: pan's multi-core search, and swarm verification
(properties/spin/engine.py: emit_swarm, read_trails; explore --engine spin --emit-swarm and
--trails): a swarm's members run the emitted script with their own seeds, and the trails they
leave are judged by the spec as a search's are. Skipped without spin and gcc."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from model.small import SMALL
from properties.explorer import explore
from properties.spin.engine import available, emit_swarm, read_trails, search
from spec import SpecError
from tcpclose.cli import main

needs_spin = pytest.mark.skipif(available() is not None, reason=f"SPIN engine unavailable: {available()}")


@needs_spin
@pytest.mark.parametrize("workers", [1, 2])
def test_depth_first_searches_visit_the_explorers_states(workers: int) -> None:
    """Depth first, on one core (states stored uncompressed) or two (pan's multi-core search,
    which refuses hidden variables): the explorer's distinct states and findings."""
    initial = SMALL["acceptance"].build()
    py = explore(initial)
    sp = search(initial, bfs=False, workers=workers, quick=True)
    assert sp.distinct_states == py.distinct_states
    assert set(sp.findings) == {fid for fid, _ in py.findings}


@needs_spin
def test_members_trails_are_judged_as_findings(tmp_path: Path) -> None:
    """Two members with different seeds each meet the acceptance configuration's findings; their
    trails, read back, are F7, F3 and F2 by signature, each a run the spec takes."""
    initial = SMALL["acceptance"].build()
    emit_swarm(initial, tmp_path / "swarm")
    for seed in (1, 2):
        done = subprocess.run([str(tmp_path / "swarm" / "member.sh"), str(seed), "20"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "errors: 3" in done.stdout
    violations = read_trails(initial, tmp_path / "swarm")
    assert len(violations) == 6
    assert {v.finding for v in violations} == {"F7", "F3", "F2"}


@needs_spin
def test_trails_of_another_model_are_refused(tmp_path: Path) -> None:
    emit_swarm(SMALL["acceptance"].build(), tmp_path)
    subprocess.run([str(tmp_path / "member.sh"), "3", "20"], capture_output=True, check=True)
    with pytest.raises(SpecError, match="comes from another model"):
        read_trails(SMALL["tiny-1"].build(), tmp_path)
    out = CliRunner().invoke(main, ["explore", "--config", "tiny-1", "--engine", "spin", "--trails", str(tmp_path)])
    assert out.exit_code == 2 and "comes from another model" in out.output and "Traceback" not in out.output


def test_swarm_options_need_the_spin_engine_and_one_step(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["explore", "--config", "tiny-1", "--emit-swarm", str(tmp_path / "s")])
    assert out.exit_code == 2 and "--emit-swarm cannot be used with --engine python" in out.output
    out = CliRunner().invoke(main, ["explore", "--config", "tiny-1", "--engine", "spin", "--emit-swarm",
                                    str(tmp_path / "s"), "--trails", str(tmp_path)])  # fmt: skip
    assert out.exit_code == 2 and "two steps" in out.output
