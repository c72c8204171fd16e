"""Hypothesis settings profiles, picked by the TCPCLOSE_PROFILE environment variable
(default ``dev``, or ``ci`` when CI=true):

- ``dev``: quick local runs, random seeds, shrinking on;
- ``ci``: deterministic (derandomized, no example database, no deadline), fixed budgets; every
  run gives the same result, and the coverage events must all be reached;
- ``thorough``: ten times the CI budget, longer runs, for a change to the spec before it lands.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_common = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("dev", max_examples=150, stateful_step_count=50, **_common)  # type: ignore[arg-type]
settings.register_profile(
    "ci",
    max_examples=300,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    print_blob=True,
    **_common,  # type: ignore[arg-type]
)
settings.register_profile("thorough", max_examples=3000, stateful_step_count=120, **_common)  # type: ignore[arg-type]

PROFILES = ("dev", "ci", "thorough")


class ProfileError(ValueError):
    """An unknown profile name (from TCPCLOSE_PROFILE or an option): one line."""


def current(default: str | None = None) -> str:
    """The profile TCPCLOSE_PROFILE names, else ``default``, else ci under CI=true and dev otherwise."""
    fallback = default or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
    name = os.environ.get("TCPCLOSE_PROFILE", fallback)
    if name not in PROFILES:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ProfileError(f"TCPCLOSE_PROFILE={shown!r} is not one of {', '.join(PROFILES)}")
    return name


def load(name: str | None = None) -> str:
    name = name or current()
    if name not in PROFILES:
        source = f"TCPCLOSE_PROFILE={name!r}" if os.environ.get("TCPCLOSE_PROFILE") == name else repr(name)
        raise ProfileError(f"unknown Hypothesis profile {source[:60]} (known: {', '.join(PROFILES)})")
    settings.load_profile(name)
    return name
