"""Print what a fuzzing campaign gets through with 1, 2, ... worker processes on this machine:
examples and steps per minute, each run with a fresh local database of its own. Figures to read,
never assertions; run it on an idle machine (other load takes the cores the workers need).

    python benchmarks/campaign.py [MINUTES] [MAX_WORKERS]
"""

from __future__ import annotations

import os
import sys
import tempfile

from properties.campaign import run_campaign


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    most = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count() or 1
    print(f"{'workers':>7} {'examples/min':>12} {'steps/min':>10} {'load before':>11}")
    for workers in range(1, most + 1):
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as db:
            report = run_campaign(minutes=minutes, workers=workers, db=db)
        span = report.seconds / 60
        examples = sum(m.examples for m in report.machines)
        steps = sum(m.steps for m in report.machines)
        print(f"{workers:>7} {examples / span:>12,.0f} {steps / span:>10,.0f} {load:>11.1f}")


if __name__ == "__main__":
    main()
