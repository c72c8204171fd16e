"""An executable spec of how Linux frees a closing TCP socket's unread receive buffers.

A pure transition system: ``boot()`` builds a state, ``enabled()`` lists the actions possible
in it, ``step()`` applies one. See the module docstrings for what each part mirrors.
"""

from spec.actions import *  # noqa: F403  (the action records are the spec's vocabulary)
from spec.actions import ALL_ACTIONS, Action
from spec.core import SpecError
from spec.state import (
    Config,
    Cpu,
    DeferCtx,
    DeferRecord,
    DeferSlot,
    Env,
    FlushCtx,
    FreeEvent,
    Incoming,
    Skb,
    Sock,
    State,
    Task,
    UserOp,
)
from spec.system import NotEnabled, boot, enabled, guard, step

__all__ = [
    "ALL_ACTIONS",
    "Action",
    "Config",
    "Cpu",
    "DeferCtx",
    "DeferRecord",
    "DeferSlot",
    "Env",
    "FlushCtx",
    "FreeEvent",
    "Incoming",
    "NotEnabled",
    "Skb",
    "Sock",
    "SpecError",
    "State",
    "Task",
    "UserOp",
    "boot",
    "enabled",
    "guard",
    "step",
]
