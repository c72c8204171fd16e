"""The unmodified spec passes every state machine, and the machines reach the states that matter.

Each machine is a unittest TestCase, so that HypoFuzz (``hypothesis fuzz``) finds and fuzzes it:
like Hypothesis's own ``Machine.TestCase``, its ``runTest`` carries the machine class, which
HypoFuzz runs. Under pytest, ``runTest`` runs the machine under the current profile, writes a
trace file on a violation, and checks the coverage events.
"""

from __future__ import annotations

import unittest
import warnings

from hypothesis import settings

from properties import coverage
from properties.machines import MACHINES, SEEN, run_recording
from tests.conftest import PROFILE


def check_machine(name: str) -> None:
    machine = MACHINES[name]
    SEEN.pop(machine.__name__, None)
    run_recording(machine, settings())
    seen = SEEN[machine.__name__]
    required = coverage.REQUIRED[name]
    missing = [e for e in required if not seen[e]]
    if PROFILE == "dev":  # random seeds and a small budget: report, do not fail
        if missing:
            warnings.warn(f"{name} machine never reached: {missing}", stacklevel=1)
    else:
        assert not missing, f"{name} machine never reached {missing} (seen: {dict(seen)})"


def exposed(name: str) -> type[unittest.TestCase]:
    """``MACHINES[name].TestCase`` whose pytest run is ``check_machine(name)``."""
    cls = MACHINES[name]

    class MachineTest(cls.TestCase):  # type: ignore[name-defined,misc]
        def runTest(self) -> None:
            check_machine(name)

        # What HypoFuzz's collector looks for (Hypothesis sets both on Machine.TestCase.runTest).
        runTest.is_hypothesis_test = True  # type: ignore[attr-defined]
        runTest._hypothesis_state_machine_class = cls  # type: ignore[attr-defined]

    MachineTest.__name__ = MachineTest.__qualname__ = f"Test{cls.__name__}"
    return MachineTest


TestCloseMachine = exposed("close")
TestHotplugMachine = exposed("hotplug")
TestRaceMachine = exposed("race")
TestOfflineMachine = exposed("offline")
TestSysctlMachine = exposed("sysctl")
TestWedgeMachine = exposed("wedge")
TestFixedMachine = exposed("fixed")


def test_every_machine_is_exposed() -> None:
    exposed_names = {
        t.__name__
        for t in (TestCloseMachine, TestHotplugMachine, TestRaceMachine, TestOfflineMachine, TestSysctlMachine,
                  TestWedgeMachine, TestFixedMachine)
    }  # fmt: skip
    assert exposed_names == {f"Test{m.__name__}" for m in MACHINES.values()}
