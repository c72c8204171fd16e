import os
from pathlib import Path

from properties import profiles

PROFILE = profiles.load()

# Under pytest-xdist (pytest -n N) each worker writes its failures' trace files in a folder of its
# own, so that two workers never write the same file.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    os.environ["TCPCLOSE_TRACE_DIR"] = str(Path(os.environ.get("TCPCLOSE_TRACE_DIR", "tcpclose-traces")) / WORKER)


def pytest_report_header() -> str:
    return f"tcpclose hypothesis profile: {PROFILE} (set TCPCLOSE_PROFILE to dev, ci or thorough)"
