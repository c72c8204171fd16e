"""The README's invariant and finding tables match the code, so that they cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

from properties.findings import FINDINGS
from properties.invariants import PROMISES, REGISTRY

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_lists_every_invariant_with_its_promise() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| \w+ \| \w+ \|\s*(.*?)\s*\|$", README, flags=re.M))
    assert set(rows) == set(REGISTRY)
    for name, inv in REGISTRY.items():
        assert rows[name].strip() == (f"**{PROMISES[inv.promise]}**" if inv.promise else ""), name


def test_readme_lists_every_finding_with_its_invariant() -> None:
    rows = dict(re.findall(r"^\| (F\d+) \| `(\w+)` \|", README, flags=re.M))
    assert rows == {fid: f.invariant for fid, f in FINDINGS.items()}
