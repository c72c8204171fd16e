"""Every input the spec accepts is drawn by some generator: every field of the boot arguments
takes more than its default value in some machine's draws and through model/small.py's small()
(and so through ``tcpclose explore --set``), and every action is taken by some machine."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings

from model.small import small, small_args
from properties.machines import MACHINES, STATS
from properties.workloads import initial_states
from spec import ALL_ACTIONS, Config, Env, Incoming, Sock, State, UserOp

# Fields that are the spec's own bookkeeping, not inputs: what a run produces, never what boots it.
OUTPUTS = {
    Sock: {"id", "copied_seq", "sk_receive_queue", "sk_error_queue", "sk_rmem_alloc", "sk_forward_alloc",
           "shutdown", "TCPABORTONCLOSE", "TCPABORTONDATA", "rst_sent", "fin_sent", "owner", "destroyed"},
}  # fmt: skip
RECORDS: tuple[type[Any], ...] = (Config, Env, Incoming, Sock, UserOp)


def inputs(s: State) -> dict[str, set[Any]]:
    """Every input field's values in one initial state, keyed ``Record.field``."""
    out: dict[str, set[Any]] = defaultdict(set)

    def add(rec: Any) -> None:
        for f in attrs.fields(type(rec)):
            if f.name not in OUTPUTS.get(type(rec), set()):
                out[f"{type(rec).__name__}.{f.name}"].add(repr(getattr(rec, f.name)))

    add(s.config)
    add(s.env)
    for sock in s.sockets:
        add(sock)
        for p in sock.rx:
            add(p)
        for op in sock.ops:
            add(op)
    out["State.skb_defer_max"].add(s.skb_defer_max)
    out["State.cpu_nodes"].add(tuple(c.node for c in s.cpus))
    return out


def all_fields() -> set[str]:
    names = {f"{r.__name__}.{f.name}" for r in RECORDS for f in attrs.fields(r) if f.name not in OUTPUTS.get(r, set())}
    return names | {"State.skb_defer_max", "State.cpu_nodes"}


# The behaviours before the fixes of 2022 and 2025: each is a violation, so the machines draw them
# only under Focus.history (check --kernel before-<id> pins them through the kernel instead).
HISTORY_FIELDS = {"Config.ipi_guard", "Config.v2_kick_count", "Config.flush_before_poll",
                  "Config.idle_run_flushes", "Config.rmem_atomic"}  # fmt: skip


def _machine_draws(history: bool) -> dict[str, set[Any]]:
    seen: dict[str, set[Any]] = defaultdict(set)
    for cls in MACHINES.values():

        @settings(max_examples=150, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        @given(initial_states(attrs.evolve(cls.focus, history=history)))
        def draw(s: State) -> None:
            for key, values in inputs(s).items():
                seen[key] |= values

        draw()
    return seen


def test_machines_draw_every_input_field_beyond_its_default() -> None:
    seen = _machine_draws(history=False)
    single = sorted(k for k in all_fields() - HISTORY_FIELDS if len(seen[k]) < 2)
    assert not single, f"input fields the machines draw with one value only: {single}"
    assert all(seen[k] == {repr(getattr(Config(), k.split(".")[1]))} for k in HISTORY_FIELDS), "a fixed bug drawn"
    history = _machine_draws(history=True)
    assert not [k for k in HISTORY_FIELDS if len(history[k]) < 2], "Focus.history draws every pre-fix behaviour"


# One small() setting per input field that moves it off its default (tcpclose explore --set KEY=VALUE).
SMALL_SETS: dict[str, list[str]] = {
    "Config.close_path": ["close_path=close-old"], "Config.unread_test": ["unread_test=len_sum"],
    "Config.defer": ["defer=defer-v2"], "Config.hotplug_flush": ["hotplug_flush=true", "hotplug=true"],
    "Config.page_size": ["page_size=16384"], "Config.mem_pcpu_rsv": ["mem_pcpu_rsv=1"],
    "Config.napi_cache_size": ["napi_cache=4/2"], "Config.napi_cache_bulk": ["napi_cache=4/2"],
    "Config.preempt": ["preempt=voluntary"], "Config.zcopy_check": ["zcopy_check=true"],
    "Config.page_pool_kick": ["page_pool=true"], "Config.napi_consume_defers": ["tx=0:1"],
    "Env.page_pool_releases": ["page_pool=true"], "Env.tx_completions": ["tx=0:1"],
    "Env.migrations": ["migrations=1"], "Env.netrx_raises": ["netrx_raises=1"], "Env.offlines": ["hotplug=true"],
    "Env.defer_max_values": ["sysctl=0"], "Env.defer_max_writes": ["sysctl=0"],
    "Incoming.cpu": ["rx_cpu=1"], "Incoming.length": ["bare_fin=true"], "Incoming.truesize": ["bare_fin=true"],
    "Incoming.fin": ["bare_fin=true"], "Incoming.overlap": ["recv=1448", "retransmit_fin=true"],
    "Incoming.zcopy": ["zcopy=true"], "Incoming.fclone": ["fclone=true"], "Incoming.errqueue": ["errqueue=true"],
    "Sock.sk_state": ["sk_state=CLOSE_WAIT"], "Sock.rcv_nxt": ["isn=4294966296"],
    "Sock.sk_reserved_mem": ["reserved_pages=1"], "Sock.sock_linger": ["linger0=true"],
    "Sock.sk_lingertime": ["lingertime=5"], "Sock.repair": ["repair=true"], "Sock.ops": ["recv=100"],
    "Sock.rx": ["skbs=2"], "UserOp.op": ["recv=100"], "UserOp.cpu": ["cpus=3", "sockets=2"],
    "UserOp.nbytes": ["recv=100"], "State.skb_defer_max": ["defer_max=2"], "State.cpu_nodes": ["nodes=2"],
    "Config.ipi_guard": ["ipi_guard=false"], "Config.v2_kick_count": ["defer=defer-v2", "v2_kick_count=after"],
    "Config.flush_before_poll": ["flush_before_poll=false"], "Config.idle_run_flushes": ["idle_run_flushes=false"],
    "Config.rmem_atomic": ["rmem_atomic=false"],
    # The candidate fixes, through the kernels that have them (model/kernels.py).
    "Config.defer_test_first": ["kernel=v7.3+fix-F5-test-before-increment"],
    "Config.defer_preempt_off": ["kernel=v7.3+fixes"],
    "Config.page_pool_cpus_lock": ["kernel=v7.3+fixes"], "Config.close_purges_errqueue": ["kernel=v7.3+fixes"],
    "Config.errqueue_refuses_closed": ["kernel=v7.3+fixes"], "Config.flush_detach_first": ["kernel=v7.3+fixes"],
    "Config.flush_resets_empty": ["kernel=v7.3+fix-F6-flush-resets-empty"],
    "Config.kick_once_per_epoch": ["kernel=v7.3+fix-F8-kick-once-per-epoch"],
    "Config.defer_count_below_max": ["kernel=v7.3+fixes"],
    "Config.flush_subtracts_detached": ["kernel=v7.3+fixes"],
}  # fmt: skip


def test_small_reaches_every_input_field_beyond_its_default() -> None:
    assert set(SMALL_SETS) == all_fields(), "a new input field needs a small() parameter and an entry here"
    base = inputs(small(skbs=1))
    for key, sets in SMALL_SETS.items():
        moved = inputs(small(**{"skbs": 1, **small_args(sets)}))
        assert moved[key] - base[key], f"{key}: --set {' '.join(sets)} leaves it at {base[key]}"


def test_every_action_is_taken_by_some_machine() -> None:
    from properties.machines import run_recording

    taken: set[str] = set()
    for cls in MACHINES.values():
        STATS.pop(cls.__name__, None)
        run_recording(cls, settings(settings(), max_examples=60, derandomize=True, database=None))
        taken |= {k.removeprefix("action ") for k in STATS[cls.__name__] if k.startswith("action ")}
    assert {a.__name__ for a in ALL_ACTIONS} - taken == set()
