"""Write the Promela model of one initial state, and encode spec states as its state vector.

The rules are hand-written beside this file (``tcpclose.pml``, one section per module of spec/;
``invariants.pml``, one inline per invariant). What depends on the configuration or must follow
the Python side exactly is generated here from the spec and the registry, so that it cannot drift:

- the state vector: ``LAYOUT`` names every variable, its Promela type and its size, and
  ``encode()`` maps a spec ``State`` onto it. The declarations, the boot (the initial state's
  values) and the dump used by the conformance tests all come from ``LAYOUT`` and ``encode()``;
  ``encode()`` refuses a state whose constant parts differ from the boot state's, so that a new
  field of the spec that changes during a run cannot be left out unnoticed
  (tests/test_spin.py compares every field of ``State`` with ``COVERED``);
- one option per action of ``spec.system.candidates()`` over the sockets and CPUs of the state,
  in the spec's order, the quiescence test (every guard of a non-environment action) from
  ``Action.environment``;
- the invariant checks, in the order and the kinds of ``properties.invariants.REGISTRY``: an
  invariant with no inline in invariants.pml is an error, not a silent gap.

Sizes: ``NSKB`` is the number of packets the workload will deliver (every skb the run can build),
``MAXRX``/``MAXOPS`` the longest per-socket workload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Literal

import attrs

from properties import invariants
from spec import ALL_ACTIONS, Action, State
from spec import actions as A
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
    Task,
    UserOp,
)

Mode = Literal["search", "walk"]
SHARED = False
Array = list[int]

_STATES = {"ESTABLISHED": 0, "CLOSE_WAIT": 1, "FIN_WAIT1": 2, "LAST_ACK": 3, "LISTEN": 4, "CLOSE": 5}
_WHERE = {"rcv_queue": 1, "err_queue": 2, "task": 3, "softirq": 4, "hotplug": 5, "defer_list": 6, "freed": 7, "rx": 8}
_HOW = {
    "kfree_skb": 1,
    "nodefer:zcopy": 2,
    "nodefer:same_cpu": 3,
    "nodefer:out_of_range": 4,
    "nodefer:offline": 5,
    "nodefer:full": 6,
    "flush": 7,
    "hotplug_flush": 8,
}
_DESTRUCTOR = {None: 0, "sock_rfree": 1, "sock_rmem_free": 2}
_PHASE = {"copy": 0, "purge": 1, "decide": 2}
_DEFER_PC = {"check": 0, "count": 1, "push": 2, "kick": 3}
_FLUSH_PC = {"reset": 0, "detach": 1, "free": 2}

# The fields of the spec's records the Promela represents (directly, or as a constant of the boot
# state that encode() checks). tests/test_spin.py fails when a record gains a field not listed.
COVERED: dict[type, frozenset[str]] = {}


class EncodeError(Exception):
    """A state the Promela cannot represent (a constant of the boot state changed)."""


@attrs.frozen
class Sizes:
    ncpu: int
    nnode: int
    nsock: int
    nskb: int
    maxrx: int
    maxops: int

    @classmethod
    def of(cls, boot: State) -> Sizes:
        return cls(
            ncpu=len(boot.cpus),
            nnode=boot.nodes,
            nsock=len(boot.sockets),
            nskb=max(1, sum(len(k.rx) for k in boot.sockets)),
            maxrx=max([1, *(len(k.rx) for k in boot.sockets)]),
            maxops=max([1, *(len(k.ops) for k in boot.sockets)]),
        )

    def dim(self, name: str) -> int:
        slots = self.ncpu * self.nnode
        return {
            "1": 1,
            "NCPU": self.ncpu,
            "NSOCK": self.nsock,
            "NSKB": self.nskb,
            "SLOTS": slots,
            "SLOTS*NSKB": slots * self.nskb,
            "NCPU*NSKB": self.ncpu * self.nskb,
            "NSOCK*NSKB": self.nsock * self.nskb,
        }[name]


@attrs.frozen
class Var:
    """One variable of the state vector: its Promela type and dimension (``"1"``: a scalar)."""

    name: str
    ptype: str
    dim: str


def _v(spec: str) -> list[Var]:
    out: list[Var] = []
    for line in spec.strip().splitlines():
        ptype, dim, *names = line.split()
        out.extend(Var(n, ptype, dim) for n in names)
    return out


LAYOUT: tuple[Var, ...] = tuple(
    _v(
        """
        short 1 skb_defer_max
        int 1 memory_allocated
        byte 1 env_migrations env_netrx_raises env_offlines env_defer_max_writes nskbs
        bool NCPU online dead_pending defer_ipi_scheduled net_rx_pending kick_unserved sirq_on
        byte NCPU ipi_queued sirq_node sirq_pc sirq_nbatch
        short NCPU napi_skb_cache per_cpu_fw_alloc
        byte NCPU*NSKB sirq_batch
        byte SLOTS*NSKB defer_list
        byte SLOTS defer_len epoch
        short SLOTS defer_count
        byte NSOCK sk_state rcvq_len errq_len TCPABORTONCLOSE TCPABORTONDATA rst_sent fin_sent rx_next ops_next
        bool NSOCK shutdown t_on d_on
        int NSOCK rcv_nxt copied_seq sk_rmem_alloc sk_forward_alloc t_recv_left t_data_was_unread
        byte NSOCK*NSKB rcvq errq
        byte NSOCK t_op t_cpu t_phase d_skb d_pc d_node
        short NSOCK d_cpu d_counted_on d_counted_epoch d_count d_defer_max
        byte NSKB skb_owner skb_rxi skb_destructor skb_wk skb_wa skb_wb skb_nfrees skb_free_cpu skb_free_how
        byte NSKB skb_nstray skb_def_producer skb_def_node skb_def_epoch
        int NSKB skb_seq skb_end_seq
        short NSKB skb_sk skb_def_count skb_def_defer_max
        bool NSKB skb_deferred
        """
    )
)

# The boot state's constants, read by the rules: macros, not variables.
TABLES: tuple[Var, ...] = tuple(
    _v(
        """
        byte NSOCK rx_n ops_n sk_repair sk_linger0
        int NSOCK sk_reserved_mem errq_seq_rel
        byte NCPU cpu_node
        byte RX rx_cpu rx_fin rx_zcopy rx_fclone rx_errqueue
        int RX rx_length rx_truesize rx_overlap
        byte OPS op_op op_cpu
        int OPS op_nbytes
        """
    )
)

# The locals of a step and the pre-state the transition invariants read: hidden (not part of the
# state vector), and every step writes each of them before it reads it.
SCRATCH: tuple[Var, ...] = tuple(
    _v(
        """
        int 1 x_pages x_local x_fwd x_rmem x_unused x_r x_seq x_end x_off x_avail x_used x_left
        int 1 x_count x_sum x_total x_held x_counted x_spare x_lim
        byte 1 x_i x_j x_n x_k x_c x_to x_on x_cpu x_node x_skb x_len x_m x_e y_i y_j y_n
        byte 1 x_kick x_ok x_below x_unread
        short 1 pre_skb_defer_max pre_t_cpu pre_d_cpu pre_d_skb pre_d_count pre_d_defer_max last_act last_arg
        byte 1 pre_sk_state pre_rst pre_fin
        int 1 pre_rcv_nxt pre_copied_seq
        int NSOCK pre_rmem
        byte NSOCK pre_aborts
        byte NCPU pre_online
        byte NSKB pre_nfrees
        short SLOTS pre_defer_count
        byte SLOTS pre_defer_len
        byte SLOTS*NSKB pre_defer_list
        byte NSKB seen_n seen_match
        """
    )
)


def _rel(value: int, base: int) -> int:
    """A sequence number relative to ``base`` (mod 2**32), as a signed 32-bit int."""
    d = (value - base) % (1 << 32)
    return d - (1 << 32) if d >= 1 << 31 else d


def _pad(values: Sequence[int], n: int) -> Array:
    return list(values) + [0] * (n - len(values))


def _where(skb: Skb) -> tuple[int, int, int]:
    w = skb.where
    kind = w[1] if w[0] == "held" else w[0]
    args = [int(x) for x in (w[2:] if w[0] == "held" else w[1:])]
    return _WHERE[str(kind)], *_pad(args, 2)  # type: ignore[return-value]


def _constant(what: str, now: object, boot: object) -> None:
    if now != boot:
        raise EncodeError(f"{what} changed from {boot!r} to {now!r}; the Promela keeps it constant")


def _rx_index(state: State, skb: Skb) -> int:
    """The packet of its socket's workload an skb was built from (skbs are numbered in arrival
    order and each socket's packets arrive in order)."""
    return sum(1 for s in state.skbs[: skb.id] if s.owner_sk == skb.owner_sk)


def encode(state: State, boot: State) -> dict[str, Array]:
    """``state`` (reachable from ``boot``) as the values of every variable of ``LAYOUT``."""
    sz = Sizes.of(boot)
    _constant("the configuration", state.config, boot.config)
    _constant("the machine", [c.node for c in state.cpus], [c.node for c in boot.cpus])
    _constant("the skb_defer_max values", state.env.defer_max_values, boot.env.defer_max_values)
    out: dict[str, Array] = {
        "skb_defer_max": [state.skb_defer_max],
        "memory_allocated": [state.memory_allocated],
        "env_migrations": [state.env.migrations],
        "env_netrx_raises": [state.env.netrx_raises],
        "env_offlines": [state.env.offlines],
        "env_defer_max_writes": [state.env.defer_max_writes],
        "nskbs": [len(state.skbs)],
    }
    for name, get in _CPU.items():
        out[name] = [get(c) for c in state.cpus]
    out["sirq_batch"] = [v for c in state.cpus for v in _pad(c.softirq.batch if c.softirq is not None else (), sz.nskb)]
    slots = [sl for c in state.cpus for sl in c.defer_slots]
    out["defer_list"] = [v for sl in slots for v in _pad(sl.defer_list, sz.nskb)]
    out["defer_len"] = [len(sl.defer_list) for sl in slots]
    out["epoch"] = [sl.epoch for sl in slots]
    out["defer_count"] = [sl.defer_count for sl in slots]
    for sock, before in zip(state.sockets, boot.sockets, strict=True):
        for field in ("id", "sk_reserved_mem", "sock_linger", "sk_lingertime", "repair"):
            _constant(f"socket {sock.id}'s {field}", getattr(sock, field), getattr(before, field))
        _constant(f"socket {sock.id}'s workload", sock.rx, before.rx[len(before.rx) - len(sock.rx) :])
        _constant(f"socket {sock.id}'s system calls", sock.ops, before.ops[len(before.ops) - len(sock.ops) :])
    for name, get_sock in _SOCK.items():
        out[name] = [get_sock(k, b) for k, b in zip(state.sockets, boot.sockets, strict=True)]
    out["rcvq"] = [v for k in state.sockets for v in _pad(k.sk_receive_queue, sz.nskb)]
    out["errq"] = [v for k in state.sockets for v in _pad(k.sk_error_queue, sz.nskb)]
    skbs = list(state.skbs)
    for name, get_skb in _SKB.items():
        out[name] = _pad([get_skb(s, state, boot) for s in skbs], sz.nskb)
    for skb in skbs:  # the constant fields the Promela reads from the packet's table
        packet = boot.sockets[skb.owner_sk].rx[_rx_index(state, skb)]
        got = (skb.truesize, skb.fin, skb.alloc_cpu, skb.zcopy, skb.fclone)
        _constant(f"skb {skb.id}", got, (packet.truesize, packet.fin, packet.cpu, packet.zcopy, packet.fclone))
        if skb.sk is not None and skb.sk != skb.owner_sk:
            raise EncodeError(f"skb {skb.id} is charged to socket {skb.sk}, not the one it was received on")
    for var in LAYOUT:
        if len(out[var.name]) != sz.dim(var.dim):
            raise EncodeError(f"{var.name}: {len(out[var.name])} values for {var.dim}")
    return out


_CPU: dict[str, Callable[[Cpu], int]] = {
    "online": lambda c: int(c.online),
    "dead_pending": lambda c: int(c.dead_pending),
    "defer_ipi_scheduled": lambda c: int(c.defer_ipi_scheduled),
    "net_rx_pending": lambda c: int(c.net_rx_pending),
    "kick_unserved": lambda c: int(c.kick_unserved),
    "sirq_on": lambda c: int(c.softirq is not None),
    "ipi_queued": lambda c: c.ipi_queued,
    "sirq_node": lambda c: c.softirq.node if c.softirq is not None else 0,
    "sirq_pc": lambda c: _FLUSH_PC[c.softirq.pc] if c.softirq is not None else 0,
    "sirq_nbatch": lambda c: len(c.softirq.batch) if c.softirq is not None else 0,
    "napi_skb_cache": lambda c: c.napi_skb_cache,
    "per_cpu_fw_alloc": lambda c: c.per_cpu_fw_alloc,
}


def _task(k: Sock, field: str, absent: int = 0) -> int:
    return absent if k.owner is None else int(getattr(k.owner, field))


def _phase(k: Sock) -> int:
    return 0 if k.owner is None else _PHASE[k.owner.phase]


def _defer(k: Sock, field: str) -> int:
    if k.owner is None or k.owner.defer is None:
        return 0
    value = getattr(k.owner.defer, field)
    return _DEFER_PC[value] if field == "pc" else int(value)


_SOCK: dict[str, Callable[[Sock, Sock], int]] = {
    "sk_state": lambda k, b: _STATES[k.sk_state],
    "rcvq_len": lambda k, b: len(k.sk_receive_queue),
    "errq_len": lambda k, b: len(k.sk_error_queue),
    "TCPABORTONCLOSE": lambda k, b: k.TCPABORTONCLOSE,
    "TCPABORTONDATA": lambda k, b: k.TCPABORTONDATA,
    "rst_sent": lambda k, b: k.rst_sent,
    "fin_sent": lambda k, b: k.fin_sent,
    "rx_next": lambda k, b: len(b.rx) - len(k.rx),
    "ops_next": lambda k, b: len(b.ops) - len(k.ops),
    "shutdown": lambda k, b: int(k.shutdown),
    "t_on": lambda k, b: int(k.owner is not None),
    "d_on": lambda k, b: int(k.owner is not None and k.owner.defer is not None),
    "rcv_nxt": lambda k, b: _rel(k.rcv_nxt, b.rcv_nxt),
    "copied_seq": lambda k, b: _rel(k.copied_seq, b.rcv_nxt),
    "sk_rmem_alloc": lambda k, b: k.sk_rmem_alloc,
    "sk_forward_alloc": lambda k, b: k.sk_forward_alloc,
    "t_recv_left": lambda k, b: _task(k, "recv_left"),
    "t_data_was_unread": lambda k, b: _task(k, "data_was_unread"),
    "t_op": lambda k, b: 0 if k.owner is None else int(k.owner.op == "close"),
    "t_cpu": lambda k, b: _task(k, "cpu"),
    "t_phase": lambda k, b: _phase(k),
    "d_skb": lambda k, b: _defer(k, "skb"),
    "d_pc": lambda k, b: _defer(k, "pc"),
    "d_node": lambda k, b: _defer(k, "node"),
    "d_cpu": lambda k, b: _defer(k, "cpu"),
    "d_counted_on": lambda k, b: _defer(k, "counted_on"),
    "d_counted_epoch": lambda k, b: _defer(k, "counted_epoch"),
    "d_count": lambda k, b: _defer(k, "count"),
    "d_defer_max": lambda k, b: _defer(k, "defer_max"),
}


def _first_free(skb: Skb, field: str) -> int:
    if not skb.frees:
        return 0
    return skb.frees[0].cpu if field == "cpu" else _HOW[skb.frees[0].how]


def _deferred(skb: Skb, field: str) -> int:
    return 0 if skb.deferred is None else int(getattr(skb.deferred, field))


_SKB: dict[str, Callable[[Skb, State, State], int]] = {
    "skb_owner": lambda s, st, b: s.owner_sk,
    "skb_rxi": lambda s, st, b: _rx_index(st, s),
    "skb_destructor": lambda s, st, b: _DESTRUCTOR[s.destructor],
    "skb_wk": lambda s, st, b: _where(s)[0],
    "skb_wa": lambda s, st, b: _where(s)[1],
    "skb_wb": lambda s, st, b: _where(s)[2],
    "skb_nfrees": lambda s, st, b: len(s.frees),
    "skb_free_cpu": lambda s, st, b: _first_free(s, "cpu"),
    "skb_free_how": lambda s, st, b: _first_free(s, "how"),
    "skb_nstray": lambda s, st, b: len(s.stray_touches),
    "skb_def_producer": lambda s, st, b: _deferred(s, "producer_cpu"),
    "skb_def_node": lambda s, st, b: _deferred(s, "node"),
    "skb_def_epoch": lambda s, st, b: _deferred(s, "epoch"),
    "skb_seq": lambda s, st, b: _rel(s.seq, b.sockets[s.owner_sk].rcv_nxt),
    "skb_end_seq": lambda s, st, b: _rel(s.end_seq, b.sockets[s.owner_sk].rcv_nxt),
    "skb_sk": lambda s, st, b: -1 if s.sk is None else s.sk,
    "skb_def_count": lambda s, st, b: _deferred(s, "count"),
    "skb_def_defer_max": lambda s, st, b: _deferred(s, "defer_max"),
    "skb_deferred": lambda s, st, b: int(s.deferred is not None),
}

COVERED.update(
    {
        State: frozenset({"config", "skb_defer_max", "cpus", "sockets", "skbs", "memory_allocated", "env"}),
        Cpu: frozenset(
            [
                "id",
                "node",
                "online",
                "dead_pending",
                "defer_slots",
                "defer_ipi_scheduled",
                "ipi_queued",
                "net_rx_pending",
                "softirq",
                "napi_skb_cache",
                "per_cpu_fw_alloc",
                "kick_unserved",
            ]
        ),
        Sock: frozenset(
            {
                "id",
                "sk_state",
                "rcv_nxt",
                "copied_seq",
                "sk_receive_queue",
                "sk_error_queue",
                "sk_rmem_alloc",
                "sk_forward_alloc",
                "sk_reserved_mem",
                "sock_linger",
                "sk_lingertime",
                "repair",
                "shutdown",
                "TCPABORTONCLOSE",
                "TCPABORTONDATA",
                "rst_sent",
                "fin_sent",
                "owner",
                "ops",
                "rx",
            }
        ),
        Skb: frozenset(
            {
                "id",
                "owner_sk",
                "truesize",
                "seq",
                "end_seq",
                "fin",
                "alloc_cpu",
                "zcopy",
                "fclone",
                "sk",
                "destructor",
                "where",
                "frees",
                "stray_touches",
                "deferred",
            }
        ),
        Config: frozenset(
            {
                "close_path",
                "unread_test",
                "defer",
                "hotplug_flush",
                "page_size",
                "mem_pcpu_rsv",
                "napi_cache_size",
                "napi_cache_bulk",
            }
        ),
        DeferSlot: frozenset({"defer_list", "defer_count", "epoch"}),
        FlushCtx: frozenset({"node", "pc", "batch"}),
        Task: frozenset({"op", "cpu", "phase", "recv_left", "data_was_unread", "defer"}),
        DeferCtx: frozenset({"skb", "pc", "cpu", "counted_on", "counted_epoch", "node", "count", "defer_max"}),
        Env: frozenset({"migrations", "netrx_raises", "offlines", "defer_max_values", "defer_max_writes"}),
        DeferRecord: frozenset({"producer_cpu", "node", "epoch", "count", "defer_max"}),
        FreeEvent: frozenset({"cpu", "how"}),
        Incoming: frozenset({"cpu", "length", "truesize", "fin", "overlap", "zcopy", "fclone", "errqueue"}),
        UserOp: frozenset({"op", "cpu", "nbytes"}),
    }
)


def tables(boot: State) -> dict[str, Array]:
    """The boot state's constants: each socket's workload, the machine, the socket options."""
    sz = Sizes.of(boot)
    out: dict[str, Array] = {v.name: [] for v in TABLES}
    for k in boot.sockets:
        out["rx_n"].append(len(k.rx))
        out["ops_n"].append(len(k.ops))
        out["sk_repair"].append(int(k.repair))
        out["sk_linger0"].append(int(k.sock_linger and k.sk_lingertime == 0))
        out["sk_reserved_mem"].append(k.sk_reserved_mem)
        out["errq_seq_rel"].append(_rel(0, k.rcv_nxt))
        rx = list(k.rx)
        for field in ("cpu", "fin", "zcopy", "fclone", "errqueue", "length", "truesize", "overlap"):
            out["rx_" + field] += _pad([int(getattr(p, field)) for p in rx], sz.maxrx)
        out["op_op"] += _pad([int(o.op == "close") for o in k.ops], sz.maxops)
        out["op_cpu"] += _pad([o.cpu for o in k.ops], sz.maxops)
        out["op_nbytes"] += _pad([o.nbytes for o in k.ops], sz.maxops)
    out["cpu_node"] = [c.node for c in boot.cpus]
    return out


# -- the actions ---------------------------------------------------------------------------------


def _args(action: Action) -> tuple[int, ...]:
    return tuple(int(v) for v in attrs.astuple(action))


# The actions by what they name: a socket, a CPU, a socket and a CPU, a value.
PER_SOCK: tuple[type[Action], ...] = (
    A.PacketArrives,
    A.ErrQueueCharge,
    A.RecvStart,
    A.RecvCopy,
    A.RecvEnd,
    A.CloseStart,
    A.PurgeStep,
    A.CloseDecide,
    A.DeferCheck,
    A.DeferCount,
    A.DeferPush,
    A.DeferKick,
)
PER_CPU: tuple[type[Action], ...] = (
    A.IpiDeliver,
    A.SoftirqStart,
    A.FlushReset,
    A.FlushDetach,
    A.FlushFree,
    A.DevCpuDead,
)
PER_CPU_ENV: tuple[type[Action], ...] = (A.RaiseNetRx, A.CpuOffline, A.CpuOnline)


def options(boot: State) -> list[Action]:
    """Every action the search may take from any state of this configuration: the candidates of
    spec.system.candidates() over every socket, CPU and sysctl value, in the spec's order."""
    missing = set(ALL_ACTIONS) - {*PER_SOCK, *PER_CPU, *PER_CPU_ENV, A.Migrate, A.SetDeferMax}
    if missing:
        raise EncodeError(f"no Promela option for {sorted(c.__name__ for c in missing)}")
    socks = range(len(boot.sockets))
    cpus = range(len(boot.cpus))
    out: list[Action] = [cls(k) for k in socks for cls in PER_SOCK]  # type: ignore[call-arg]
    out += [cls(c) for c in cpus for cls in PER_CPU]  # type: ignore[call-arg]
    out += [A.Migrate(k, c) for k in socks for c in cpus]
    out += [cls(c) for c in cpus for cls in PER_CPU_ENV]  # type: ignore[call-arg]
    out += [A.SetDeferMax(v) for v in sorted(set(boot.env.defer_max_values))]
    return out


def _call(action: Action) -> str:
    return f"{type(action).__name__}({', '.join(map(str, _args(action)))})"


def _label(action: Action) -> str:
    return " ".join([type(action).__name__, *map(str, _args(action))])


# -- the invariants ------------------------------------------------------------------------------


def _defined_checks() -> set[str]:
    text = resources.files(__package__).joinpath("invariants.pml").read_text()
    return set(re.findall(r"^inline check_(\w+)\(", text, re.M))


def check_calls(kind: str, skip: frozenset[str], act: str = "act", arg: str = "a") -> list[str]:
    """The calls of the checks of one kind, in the registry's order, leaving out ``skip``."""
    defined = _defined_checks()
    calls = []
    for inv in invariants.by_kind(kind):
        if inv.name not in defined:
            raise EncodeError(f"invariant {inv.name} has no check_{inv.name} in properties/spin/invariants.pml")
        if inv.name not in skip:
            calls.append(f"check_{inv.name}({act}, {arg})" if kind == "transition" else f"check_{inv.name}()")
    return calls


# -- the model -----------------------------------------------------------------------------------


def _decl(var: Var, sz: Sizes) -> str:
    return f"{var.ptype} {var.name}{'' if var.dim == '1' else f'[{sz.dim(var.dim)}]'};"


def _table(name: str, values: Array) -> str:
    """A constant table as a macro: a chain of conditional expressions over its nonzero entries."""
    expr = "0"
    for i, v in reversed(list(enumerate(values))):
        if v:
            expr = f"((x) == {i} -> {v} : {expr})"
    if values and all(v == values[0] for v in values):
        expr = str(values[0])
    return f"#define {name}(x) ({expr})"


def _assign(name: str, values: Array, scalar: bool) -> Iterator[str]:
    if scalar:
        if values[0]:
            yield f"{name} = {values[0]}"
        return
    for i, v in enumerate(values):
        if v:
            yield f"{name}[{i}] = {v}"


def generate(
    boot: State, *, skip: frozenset[str] = frozenset(), mode: Mode = "search", walks: Sequence[Sequence[Action]] = ()
) -> str:
    """The whole model for ``boot``: in ``search`` mode a loop over every action (the search
    SPIN runs), in ``walk`` mode the given action sequences, each from the boot state, printing
    the enabled actions and the state vector after every step (the conformance tests)."""
    sz = Sizes.of(boot)
    cfg = boot.config
    pkg = resources.files(__package__)
    opts = options(boot)
    out = [
        "/* Generated by properties/spin/promela.py from the spec's boot state; do not edit. */",
        f"#define NCPU {sz.ncpu}",
        f"#define NNODE {sz.nnode}",
        f"#define NSOCK {sz.nsock}",
        f"#define NSKB {sz.nskb}",
        f"#define MAXRX {sz.maxrx}",
        f"#define MAXOPS {sz.maxops}",
        f"#define DEFER_V6 {int(cfg.defer == 'defer-v6')}",
        f"#define CLOSE_NEW {int(cfg.close_path == 'close-new')}",
        f"#define UNREAD_END_SEQ {int(cfg.unread_test == 'end_seq')}",
        f"#define HOTPLUG_FLUSH {int(cfg.hotplug_flush)}",
        f"#define PAGE_SIZE {cfg.page_size}",
        f"#define MEM_PCPU_RSV {cfg.mem_pcpu_rsv}",
        f"#define NAPI_CACHE_SIZE {cfg.napi_cache_size}",
        f"#define NAPI_CACHE_BULK {cfg.napi_cache_bulk}",
        "#define OTHER_ONLINE(c) (" + " || ".join(f"(c != {i} && online[{i}])" for i in range(sz.ncpu)) + ")",
        "#define REPAIR(k) sk_repair(k)",
        "#define LINGER0(k) sk_linger0(k)",
        "#define ERRQ_SEQ(k) errq_seq_rel(k)",
        "/* the state vector */",
        *(_decl(v, sz) for v in LAYOUT),
        "/* the boot state's constants */",
        *(_table(name, values) for name, values in tables(boot).items()),
        "/* the locals of a step, and the pre-state for the transition invariants */",
        *("hidden " + _decl(v, sz) for v in SCRATCH),
        "hidden byte " + ", ".join(invariants.REGISTRY) + ";",
        *(f"#define ACT_{cls.__name__} {i}" for i, cls in enumerate(ALL_ACTIONS)),
        pkg.joinpath("tcpclose.pml").read_text(),
        pkg.joinpath("invariants.pml").read_text(),
    ]
    quiet = " || ".join(f"G_{_call(a)}" for a in opts if not a.environment)
    out.append(f"#define QUIESCENT (!({quiet or 'false'}))")
    transition = check_calls("transition", skip)
    state = check_calls("state", skip)
    quiescent = check_calls("quiescent", skip)
    out.append("inline after(act, a) {")
    out.append("  " + "; ".join([*transition, *state, "skip"]) + ";")
    if quiescent:
        out.append("  if :: QUIESCENT -> " + "; ".join(quiescent) + " :: else fi")
    out.append("}")
    out.append("inline boot() {")
    enc = encode(boot, boot)
    body = [s for v in LAYOUT for s in _assign(v.name, enc[v.name], v.dim == "1")]
    out.append("  " + ";\n  ".join([*body, "skip"]))
    out.append("}")

    def apply(a: Action) -> str:
        name, args = type(a).__name__, _args(a)
        sock = isinstance(a, PER_SOCK)
        pre = ["save_pre()", *([f"save_pre_sock({args[0]})"] if sock else [])]
        return "; ".join(
            [*pre, f'printf("@ {_label(a)}\\n")', f"A_{_call(a)}", f"last_act = ACT_{name}", f"last_arg = {args[0]}"]
        )

    def run(a: Action) -> str:
        return f"{apply(a)}; after(last_act, last_arg)"

    if mode == "search":
        # One step of the spec is one transition of SPIN: the chosen action's guard and effect (a
        # d_step each), then, inside the same atomic sequence, the checks, written once for all
        # actions (an atomic sequence stores no intermediate state).
        if SHARED:
            out.append("init {\n  d_step { boot() };\nend:\n  do\n  :: atomic {\n    if")
            out += [f"    :: d_step {{ G_{_call(a)} -> {apply(a)} }}" for a in opts]
            out.append("    fi;\n    d_step { after(last_act, last_arg) }\n  }\n  od\n}")
        else:
            out.append("init {\n  d_step { boot() };\nend:\n  do")
            out += [f"  :: d_step {{ G_{_call(a)} -> {run(a)} }}" for a in opts]
            out.append("  od\n}")
        return "\n".join(out) + "\n"
    out.append("inline report() {")
    out += [f'  if :: G_{_call(a)} -> printf("E {_label(a)}\\n") :: else fi;' for a in opts]
    dump = []
    for v in LAYOUT:
        n = sz.dim(v.dim)
        refs = [v.name] if v.dim == "1" else [f"{v.name}[{i}]" for i in range(n)]
        dump.append(f'  printf("S {v.name}' + " %d" * n + '\\n", ' + ", ".join(refs) + ");")
    out += dump
    out.append('  printf("Q %d\\n", QUIESCENT)')
    out.append("}")
    out.append("inline reset() {")
    out += [f"  {_zero(v, sz)};" for v in LAYOUT]
    out.append("  skip\n}")
    # The walks are data (one option number per step, NEW_WALK between walks), played by one loop,
    # so that the model's size does not grow with their length.
    index = {_label(a): i for i, a in enumerate(opts)}
    program: list[int] = []
    for walk in walks:
        program.append(NEW_WALK)
        for a in walk:
            if _label(a) not in index:
                raise EncodeError(f"{_label(a)} is not an action of this configuration")
            program.append(index[_label(a)])
    out.append(f"#define NSTEPS {max(1, len(program))}")
    out.append("short walk_op[NSTEPS];")
    out.append("short wi, wn;")
    out.append("init {")
    out.append("  d_step { " + "; ".join([f"walk_op[{i}] = {op}" for i, op in enumerate(program)] + ["skip"]) + " };")
    out.append("  do")
    out.append(f"  :: wi < {len(program)} -> d_step {{")
    out.append("    if")
    out.append(f'    :: walk_op[wi] == {NEW_WALK} -> reset(); boot(); printf("W %d\\n", wn); wn++; report()')
    for i, a in enumerate(opts):
        out.append(
            f"    :: walk_op[wi] == {i} -> if :: G_{_call(a)} -> {run(a)}; report() "
            f':: else -> printf("N {_label(a)}\\n") fi'
        )
    out.append("    fi;")
    out.append("    wi++ }")
    out.append("  :: else -> break")
    out.append("  od\n}")
    return "\n".join(out) + "\n"


NEW_WALK = 999


def _zero(v: Var, sz: Sizes) -> str:
    if v.dim == "1":
        return f"{v.name} = 0"
    return "; ".join(f"{v.name}[{i}] = 0" for i in range(sz.dim(v.dim)))
