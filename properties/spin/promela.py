"""The spec's transition system rendered in Promela, for SPIN's exhaustive search.

``render(initial)`` emits one Promela model for one booted state (model/small.py): the same state
variables as spec/state.py (ghost fields included, so that SPIN's distinct states are the
explorer's), one ``d_step`` per spec action instance (socket, CPU or value fixed), whose first
expression is the action's guard (spec/*.py ``guard_*``) and whose body is its effect
(``apply_*``), so that one spec step is one SPIN transition and no intermediate state is stored.
Invariants of properties/invariants.py are assertions checked after each step; the quiescence
(liveness) invariants are checked after each step that leaves no action but the environment's
enabled, as the explorer does. Each assertion names its invariant; hidden counters (outside the
state vector) let each invariant report at most ``max_reports`` violations per search, so that a
known finding met on every path does not flood the run with trails.

Encoding, chosen so that the map from spec states to Promela states is one to one on reachable
states: sequence numbers are kept relative to the socket's initial ``rcv_nxt`` (the spec's
arithmetic is modulo 2**32, so every comparison it makes is preserved; error-queue and TX skbs,
whose spec sequence numbers are 0, keep 0: no data skb has end_seq 0 relative to the ISN);
lists are arrays with a length (defer lists oldest first, the reverse of the spec's tuples); a
record that is None in the spec has its fields at their defaults here. An skb's ``frees`` keeps
its count and its first event, ``stray_touches`` its count: they differ from the spec's only
after a violation of ``freed_at_most_once`` or ``no_touch_after_handoff``.

Drift. ``KNOWN`` lists every Config field this renderer follows: today every one, the history
kernels' switches and the candidate fixes included, with the state they add (the slot's
``kicked`` bit and an attempt's ``claimed`` of fix-F8, the ghost ``place`` of an attempt and of a
pushed skb under fix-F11's subtracting flush, a task's pending ``rfree`` write without
``rmem_atomic``, the "csd" step of a kick without ``ipi_guard``). ``REFUSED`` would hold a field
it renders only at its default (none now); tests/test_spin.py fails when Config gains a field in
neither. ``render`` raises SpecError for a field it refuses at a non-default value, and for a
field it does not know.
The conformance tests of tests/test_spin.py hold the counts and depths equal to the explorer's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from spec import Action, Config, SpecError, State
from spec.state import Incoming

# Config fields the Promela follows (each read below), and those it refuses at a non-default value.
KNOWN: frozenset[str] = frozenset(
    {
        "close_path",
        "unread_test",
        "defer",
        "hotplug_flush",
        "page_size",
        "mem_pcpu_rsv",
        "napi_cache_size",
        "napi_cache_bulk",
        "preempt",
        "zcopy_check",
        "page_pool_kick",
        "napi_consume_defers",
        "defer_test_first",
        "defer_count_below_max",
        "defer_preempt_off",
        "page_pool_cpus_lock",
        "close_purges_errqueue",
        "errqueue_refuses_closed",
        "flush_detach_first",
        "flush_resets_empty",
        "kick_once_per_epoch",
        "v2_kick_count",
        "flush_before_poll",
        "idle_run_flushes",
        "rmem_atomic",
        "ipi_guard",
        "flush_subtracts_detached",
    }
)
# Fields the Promela renders only at their default (the explorer alone follows the rest).
REFUSED: frozenset[str] = frozenset()

# Invariants of properties/invariants.py the Promela checks (the others: see INVARIANTS_LEFT_OUT).
INVARIANTS: tuple[str, ...] = (
    "rmem_matches_charged",
    "forward_alloc_nonnegative",
    "forward_alloc_bound",
    "page_conservation",
    "pcpu_within_reserve",
    "rmem_zero_after_purge",
    "rmem_zero_at_destruction",
    "freed_at_most_once",
    "no_touch_after_handoff",
    "placed_by_the_rules",
    "v2_count_matches_list",
    "defer_check_sees_online",
    "no_push_to_offline_cpu",
    "deferred_skb_holds_no_refs",
    "flush_frees_locally",
    "one_kick_per_slot_epoch",
    "kicks_match_crossings",
    "offline_cpu_has_no_queued_ipi",
    "at_most_one_ipi_in_flight",
    "rst_iff_data_lost",
    "abort_counted_once_per_close",
    "kick_leads_to_flush",
    "deferred_skbs_freed_or_allowed",
    "dead_cpu_slots_emptied",
    "no_wedged_slot",
    "kick_at_half_capacity",
    "arrival_flushes_first",
)

# The invariants of properties/invariants.py the Promela leaves out, and why: no kernel of
# model/kernels.py and no finding of properties/findings.py breaks them; only mutants of
# properties/mutants.py do, and the SPIN engine runs none.
_MUTANTS_ONLY = "broken only by mutants (properties/mutants.py), which the SPIN engine does not run"
INVARIANTS_LEFT_OUT: dict[str, str] = {
    "skb_in_exactly_one_place": _MUTANTS_ONLY,
    "slot_epoch_bound": _MUTANTS_ONLY,
    "full_slot_falls_back": _MUTANTS_ONLY,
    "dev_cpu_dead_empties_slots": _MUTANTS_ONLY,
}

SCRATCH = tuple("h_" + n for n in ["i", "j", "k", "x", "y", "z", "cpu", "node", "sk", "skb", "ok", "id"]) + tuple(
    "h_" + n for n in ["a", "b", "c", "d", "e", "f", "g", "w", "v"]
)
STATES = {"ESTABLISHED": 0, "CLOSE_WAIT": 1, "FIN_WAIT1": 2, "LAST_ACK": 3, "LISTEN": 4, "CLOSE": 5}
HOW = (
    "",
    "kfree_skb",
    "nodefer:zcopy",
    "nodefer:same_cpu",
    "nodefer:out_of_range",
    "nodefer:offline",
    "nodefer:full",
    "flush",
    "hotplug_flush",
    "tx_complete",
    "destruct:rcv_queue",
    "destruct:err_queue",
    "close:err_queue",
    "errqueue_refused",
)
H = {name: i for i, name in enumerate(HOW)}


def check_config(config: Config) -> None:
    """Refuse a configuration the Promela would explore wrongly (one line, SpecError)."""
    default = Config()
    for field in attrs.fields(Config):
        name = field.name
        if name in KNOWN:
            continue
        if name in REFUSED:
            if getattr(config, name) != getattr(default, name):
                raise SpecError(f"the SPIN engine does not render Config.{name}={getattr(config, name)!r} yet")
            continue
        raise SpecError(f"the SPIN engine does not know Config.{name}; classify it in properties/spin/promela.py")


def _b(flag: bool) -> int:
    return 1 if flag else 0


def _arr(values: list[int]) -> str:
    """An array initializer: Promela takes one value for all, or a list of non-negative values."""
    if len(set(values)) == 1:
        return str(values[0])
    if min(values) < 0:
        raise SpecError(f"the SPIN engine cannot initialize an array with {values}")
    return "{" + ", ".join(str(v) for v in values) + "}"


class _Gen:
    def __init__(self, s: State, max_reports: int, script: list[str] | None = None, bfs: bool = True) -> None:
        check_config(s.config)
        if s.skbs or s.page_pool is not None:
            raise SpecError("the SPIN engine starts from a booted state (no skbs yet, no page-pool walk)")
        for sock in s.sockets:
            if sock.owner is not None or sock.sk_receive_queue or sock.sk_error_queue or sock.destroyed:
                raise SpecError("the SPIN engine starts from a booted state (no socket owned or with queued skbs)")
        for c in s.cpus:
            if not c.online or c.softirq is not None or c.hotplug_gen or c.ipi_queued:
                raise SpecError("the SPIN engine starts from a booted state (every CPU online and idle)")
        self.s = s
        self.c = s.config
        self.max_reports = max_reports
        self.ncpu = len(s.cpus)
        self.nsock = len(s.sockets)
        self.nnode = s.nodes
        self.nslots = self.nnode if self.c.defer == "defer-v6" else 1
        self.v6 = self.c.defer == "defer-v6"
        self.nskb = max(1, sum(len(k.rx) for k in s.sockets) + len(s.env.tx_completions))
        self.maxrx = max([1] + [len(k.rx) for k in s.sockets])
        self.maxops = max([1] + [len(k.ops) for k in s.sockets])
        self.out: list[str] = []
        self.tables: list[str] = []
        self.bfs = bfs
        self.script = script
        self.labels: dict[str, int] = {}

    # -- helpers -------------------------------------------------------------------------------

    def emit(self, text: str) -> None:
        self.out.append(text)

    def task_ok(self, sk: int) -> str:
        """core.task_blocked() is None."""
        others = [o for o in range(self.nsock) if o != sk] if not self.c.ipi_guard else []
        # without the IPI guard: no other task holds the CPU inside smp_call_function_single_async()
        csd = "".join(f" && !({self.in_csd(o)} && t_cpu[{o}] == t_cpu[{sk}])" for o in others)
        return f"(t_has[{sk}] && c_online[t_cpu[{sk}]] && !f_has[t_cpu[{sk}]]{csd})"

    def in_csd(self, sk: int) -> str:
        """Socket sk's task is inside smp_call_function_single_async() (core.in_csd_call(): pc "csd")."""
        return f"(td_has[{sk}] && td_pc[{sk}] == 5)"

    def rx_in_flight(self, sk: int | str) -> str:
        return "(" + " || ".join(f"(f_has[{c}] && f_rxsk[{c}] == {sk})" for c in range(self.ncpu)) + ")"

    def report(self, name: str, bad: str) -> str:
        """An assertion naming invariant ``name``, made at most max_reports times per search."""
        k = INVARIANTS.index(name) + 1
        return (
            f"if :: ({bad}) && c_expr {{ rep[{k - 1}] < MAXREP }} -> c_code {{ rep[{k - 1}]++; }}; "
            f"inv = {k}; assert(inv != {k}); inv = 0\n"
            f"   :: else -> skip fi;\n"
        )

    # -- declarations ----------------------------------------------------------------------------

    def declarations(self) -> None:
        s, c = self.s, self.c
        isn = [k.rcv_nxt for k in s.sockets]
        for k in s.sockets:
            if k.copied_seq != k.rcv_nxt:
                raise SpecError("the SPIN engine starts from copied_seq == rcv_nxt")
        d = self.emit
        d(f"#define NCPU {self.ncpu}\n#define NSOCK {self.nsock}\n#define NNODE {self.nnode}\n#define NSKB {self.nskb}")
        d(f"#define MAXRX {self.maxrx}\n#define MAXOPS {self.maxops}\n#define MAXREP {self.max_reports}")
        d(f"#define PAGE {c.page_size}\n#define RSV {c.mem_pcpu_rsv}\n#define NCSIZE {c.napi_cache_size}")
        d(f"#define NCBULK {c.napi_cache_bulk}")
        d("#define W_NONE 0\n#define W_RCV 1\n#define W_ERR 2\n#define W_HTASK 3\n#define W_HSOFT 4")
        d("#define W_HHOT 5\n#define W_HRX 6\n#define W_DEFER 7\n#define W_FREED 8")
        d("#define K_TASK 0\n#define K_SOFT 1\n#define K_HOT 2\n#define K_RX 3")
        d("#define SL(cpu, node) ((cpu) * NNODE + (node))")
        # constants: the workload scripts, the machine (hidden: not part of the state vector)
        rx: dict[str, list[int]] = {k: [] for k in ("cpu", "len", "ts", "fin", "ovl", "zc", "fc", "eq")}
        for sock in s.sockets:
            pkts: list[Incoming] = list(sock.rx) + [Incoming(0, 0, 1)] * (self.maxrx - len(sock.rx))
            for p in pkts:
                for key, v in (
                    ("cpu", p.cpu),
                    ("len", p.length),
                    ("ts", p.truesize),
                    ("fin", _b(p.fin)),
                    ("ovl", p.overlap),
                    ("zc", _b(p.zcopy)),
                    ("fc", _b(p.fclone)),
                    ("eq", _b(p.errqueue)),
                ):
                    rx[key].append(v)
        for key, vals in rx.items():
            self.table(f"rx_{key}", vals)
        opk, opc, opn = [], [], []
        for sock in s.sockets:
            for i in range(self.maxops):
                op = sock.ops[i] if i < len(sock.ops) else None
                opk.append(0 if op is None or op.op == "recv" else 1)
                opc.append(0 if op is None else op.cpu)
                opn.append(0 if op is None else op.nbytes)
        self.table("op_close", opk)
        self.table("op_cpu", opc)
        self.table("op_n", opn)
        self.table("n_rx", [len(k.rx) for k in s.sockets])
        self.table("n_ops", [len(k.ops) for k in s.sockets])
        tx = list(s.env.tx_completions) or [(0, 0)]
        self.table("tx_built", [a for a, _ in tx])
        self.table("tx_on", [b for _, b in tx])
        d(f"#define NTX {len(s.env.tx_completions)}")
        self.table("cpu_node", [cpu.node for cpu in s.cpus])
        self.table("s_linger", [_b(k.sock_linger) for k in s.sockets])
        self.table("s_lingertime", [k.sk_lingertime for k in s.sockets])
        self.table("s_repair", [_b(k.repair) for k in s.sockets])
        # the state: globals and env
        env = s.env
        d(f"byte g_max = {s.skb_defer_max};\nint g_mem = {s.memory_allocated};")
        d(f"byte e_mig = {env.migrations};\nbyte e_netrx = {env.netrx_raises};\nbyte e_off = {env.offlines};")
        d(f"byte e_writes = {env.defer_max_writes};\nbyte e_ppr = {env.page_pool_releases};\nbyte e_tx = 0;")
        d("bit pp_has = 0;\nbyte pp_cpu = 0;\nbyte nskb = 0;")
        # sockets
        n = self.nsock
        d(f"byte s_st[NSOCK] = {_arr([STATES[k.sk_state] for k in s.sockets])};")
        # sequence numbers relative to the ISN fit a short when the workload carries few bytes
        span = max([0] + [sum(p.length + 1 for p in k.rx) + sum(o.nbytes for o in k.ops) for k in s.sockets])
        seq = "short" if span < 30_000 else "int"
        size = "short" if max([0] + [p.truesize for k in s.sockets for p in k.rx]) < 30_000 else "int"
        d(f"{seq} s_rnxt[NSOCK];\n{seq} s_cseq[NSOCK];  /* relative to ISNs {isn} */")
        d("byte s_rq[NSOCK * NSKB];\nbyte s_rqn[NSOCK];\nbyte s_eq[NSOCK * NSKB];\nbyte s_eqn[NSOCK];")
        d(f"int s_rmem[NSOCK] = {_arr([k.sk_rmem_alloc for k in s.sockets])};")
        d(f"int s_fwd[NSOCK] = {_arr([k.sk_forward_alloc for k in s.sockets])};")
        d(f"int s_res[NSOCK] = {_arr([k.sk_reserved_mem for k in s.sockets])};")
        d(f"bit s_shut[NSOCK] = {_arr([_b(k.shutdown) for k in s.sockets])};")
        d(f"byte s_aoc[NSOCK] = {_arr([k.TCPABORTONCLOSE for k in s.sockets])};")
        d(f"byte s_aod[NSOCK] = {_arr([k.TCPABORTONDATA for k in s.sockets])};")
        d(f"bit s_destroyed[NSOCK];\nbyte s_rst[NSOCK] = {_arr([k.rst_sent for k in s.sockets])};")
        d(f"byte s_fin[NSOCK] = {_arr([k.fin_sent for k in s.sockets])};")
        d("byte s_ops[NSOCK];\nbyte s_rx[NSOCK];")
        d("bit t_has[NSOCK];\nbit t_close[NSOCK];\nbyte t_cpu[NSOCK];\nbyte t_phase[NSOCK];")
        d("int t_left[NSOCK];\nint t_unread[NSOCK];")
        # Task.rfree (without Config.rmem_atomic): the skb unlinked and the sk_rmem_alloc value read
        d("bit t_rfh[NSOCK];\nbyte t_rfs[NSOCK];\nint t_rfv[NSOCK];")
        self.decl_ctx("td", "NSOCK", n)
        # CPUs, their softirq, their slots
        m = self.ncpu
        d(f"bit c_online[NCPU] = {_arr([1] * m)};\nbit c_dead[NCPU];\nbit c_sched[NCPU];\nbyte c_ipiq[NCPU];")
        d("bit c_rxpend[NCPU];\nshort c_napi[NCPU];\nint c_pcpu[NCPU];\nbit c_unserved[NCPU];\nbyte c_gen[NCPU];")
        d("bit f_has[NCPU];\nbyte f_node[NCPU];\nbyte f_pc[NCPU];\nbyte f_batch[NCPU * NSKB];\nbyte f_bn[NCPU];")
        d(f"short f_rxsk[NCPU] = {_arr([-1] * m)};\nshort f_txcpu[NCPU] = {_arr([-1] * m)};")
        self.decl_ctx("cd", "NCPU", m)
        d("byte sl_list[NCPU * NNODE * NSKB];\nbyte sl_n[NCPU * NNODE];\nbyte sl_count[NCPU * NNODE];")
        d("byte sl_epoch[NCPU * NNODE];\nbyte sl_kep[NCPU * NNODE * NSKB];\nbyte sl_kmax[NCPU * NNODE * NSKB];")
        d("byte sl_nk[NCPU * NNODE];\nbit sl_kicked[NCPU * NNODE];")
        # skbs
        nskb = self.nskb
        d(f"short sb_owner[NSKB];\n{size} sb_ts[NSKB];\n{seq} sb_seq[NSKB];\n{seq} sb_end[NSKB];\nbit sb_fin[NSKB];")
        d("byte sb_acpu[NSKB];\nbit sb_zc[NSKB];\nbit sb_fc[NSKB];")
        d(f"short sb_sk[NSKB] = {_arr([-1] * nskb)};\nbyte sb_dtor[NSKB];")
        d("byte sb_wk[NSKB];\nbyte sb_wa[NSKB];\nbyte sb_wb[NSKB];")
        d("byte sb_nfree[NSKB];\nbyte sb_fcpu[NSKB];\nbyte sb_fhow[NSKB];\nbyte sb_stray[NSKB];")
        d("bit sb_dhas[NSKB];\nbyte sb_dprod[NSKB];\nbyte sb_dnode[NSKB];\nbyte sb_depoch[NSKB];")
        d("byte sb_dcount[NSKB];\nbyte sb_dmax[NSKB];")
        for f in ("dseen", "dccpu", "dchk", "dpush", "dplace"):
            d(f"short sb_{f}[NSKB] = {_arr([-1] * nskb)};")
        # scratch (hidden: never part of a state)
        # scratch: every step sets these back to 0 at its end, so they never tell two states apart
        # (pan's breadth-first search refuses hidden variables; depth first, they stay out of the vector)
        hidden = "int" if self.bfs else "hidden int"
        d(f"{hidden} {', '.join(SCRATCH)};")
        d(f"{hidden} h_pre_rmem[NSOCK];\nbyte inv;")
        # per invariant, the violations reported so far: C globals outside the state vector
        d("c_decl {\n  int rep[" + str(len(INVARIANTS)) + "];\n}")

    def table(self, name: str, values: list[int]) -> None:
        """A constant table (the workload, the machine): a macro, kept out of the state vector."""
        self.tables.append(name)
        expr = str(values[-1])
        for i in range(len(values) - 2, -1, -1):
            expr = f"((j) == {i} -> {values[i]} : {expr})"
        self.emit(f"#define {name}(j) ({expr})")

    def decl_ctx(self, p: str, size: str, n: int) -> None:
        """A DeferCtx (spec/state.py) per socket task (td) or per CPU softirq (cd)."""
        d = self.emit
        d(f"bit {p}_has[{size}];\nbyte {p}_skb[{size}];\nbyte {p}_pc[{size}];\nbyte {p}_node[{size}];")
        d(f"byte {p}_count[{size}];\nbyte {p}_max[{size}];\nbit {p}_claimed[{size}];")
        for f in ("cpu", "read", "cnton", "cep", "chk", "seen", "place"):
            d(f"short {p}_{f}[{size}] = {_arr([-1] * n)};")

    # -- the primitives of spec/core.py, skbuff.py, accounting.py --------------------------------

    def primitives(self) -> None:
        self.emit(
            """
inline TD_RESET(x) {
  td_has[x] = 0; td_skb[x] = 0; td_pc[x] = 0; td_node[x] = 0; td_count[x] = 0; td_max[x] = 0;
  td_cpu[x] = -1; td_read[x] = -1; td_cnton[x] = -1; td_cep[x] = -1; td_chk[x] = -1; td_seen[x] = -1;
  td_claimed[x] = 0; td_place[x] = -1
}
inline CD_RESET(x) {
  cd_has[x] = 0; cd_skb[x] = 0; cd_pc[x] = 0; cd_node[x] = 0; cd_count[x] = 0; cd_max[x] = 0;
  cd_cpu[x] = -1; cd_read[x] = -1; cd_cnton[x] = -1; cd_cep[x] = -1; cd_chk[x] = -1; cd_seen[x] = -1;
  cd_claimed[x] = 0; cd_place[x] = -1
}

inline task_none(sk) {   /* owner = None */
  t_has[sk] = 0; t_close[sk] = 0; t_cpu[sk] = 0; t_phase[sk] = 0; t_left[sk] = 0; t_unread[sk] = 0; TD_RESET(sk);
  t_rfh[sk] = 0; t_rfs[sk] = 0; t_rfv[sk] = 0
}
inline softirq_none(cpu) {   /* softirq = None */
  f_has[cpu] = 0; f_node[cpu] = 0; f_pc[cpu] = 0; f_bn[cpu] = 0;
  h_k = 0; do :: h_k < NSKB -> f_batch[cpu * NSKB + h_k] = 0; h_k++ :: else -> break od;
  f_rxsk[cpu] = -1; f_txcpu[cpu] = -1; CD_RESET(cpu)
}

/* core.holds(): may context (kind, id) write skb i now? */
#define HOLDS(i, kind, id) ( \\
  (sb_wk[i] == W_HTASK && kind == K_TASK && sb_wa[i] == id) || \\
  (sb_wk[i] == W_HSOFT && kind == K_SOFT && sb_wa[i] == id) || \\
  (sb_wk[i] == W_HHOT && kind == K_HOT && sb_wa[i] == id) || \\
  (sb_wk[i] == W_HRX && kind == K_RX && sb_wa[i] == id) || \\
  ((sb_wk[i] == W_RCV || sb_wk[i] == W_ERR) && kind == K_TASK && sb_wa[i] == id) || \\
  (sb_wk[i] == W_DEFER && (kind == K_SOFT || kind == K_HOT) && sb_wa[i] == id))

/* core.touch(): a writer that does not hold the skb is recorded */
inline touch(i, kind, id) {
  if :: !HOLDS(i, kind, id) -> sb_stray[i] = (sb_stray[i] < 3 -> sb_stray[i] + 1 : 3) :: else -> skip fi
}
inline hand(i, kind, id, wk, wa, wb) { touch(i, kind, id); sb_wk[i] = wk; sb_wa[i] = wa; sb_wb[i] = wb }

/* core.per_cpu_fw_alloc_add() */
inline pcpu_add(cpu, pages) {
  h_x = c_pcpu[cpu] + pages;
  if :: h_x >= RSV || h_x <= -RSV -> g_mem = g_mem + h_x; h_x = 0 :: else -> skip fi;
  c_pcpu[cpu] = h_x
}
/* core.napi_cache_put() */
inline napi_cache_put(cpu) {
  h_y = c_napi[cpu] + 1;
  if :: h_y >= NCSIZE -> h_y = h_y - NCBULK :: else -> skip fi;
  c_napi[cpu] = h_y
}
/* core.free_skb() */
inline free_skb(i, kind, id, cpu, how, napi) {
  touch(i, kind, id); sb_wk[i] = W_FREED; sb_wa[i] = 0; sb_wb[i] = 0;
  if :: sb_nfree[i] == 0 -> sb_fcpu[i] = cpu; sb_fhow[i] = how :: else -> skip fi;
  sb_nfree[i] = (sb_nfree[i] < 2 -> sb_nfree[i] + 1 : 2);
  if :: napi && !sb_fc[i] -> napi_cache_put(cpu) :: else -> skip fi
}
/* accounting.sock_rfree() */
inline sock_rfree(sk, cpu, ts) {
  h_a = s_rmem[sk] - ts; h_b = s_fwd[sk] + ts;
  if :: s_res[sk] == 0 -> h_c = 0 :: else -> h_c = s_res[sk] - h_a; if :: h_c < 0 -> h_c = 0 :: else -> skip fi fi;
  h_d = h_b - h_c;
  if :: h_d >= PAGE -> h_e = h_d / PAGE :: else -> h_e = 0 fi;
  if :: h_e > 0 -> h_b = h_b - h_e * PAGE; pcpu_add(cpu, -h_e) :: else -> skip fi;
  s_rmem[sk] = h_a; s_fwd[sk] = h_b
}
/* skbuff.run_destructor() */
inline run_destructor(i, kind, id, cpu) {
  if :: sb_dtor[i] != 0 && sb_sk[i] != -1 ->
       h_sk = sb_sk[i];
       if :: sb_dtor[i] == 1 -> sock_rfree(h_sk, cpu, sb_ts[i])
          :: else -> s_rmem[h_sk] = s_rmem[h_sk] - sb_ts[i] fi;
       touch(i, kind, id); sb_dtor[i] = 0; sb_sk[i] = -1
     :: else -> skip fi
}
inline kfree_skb(i, kind, id, cpu, how) { run_destructor(i, kind, id, cpu); free_skb(i, kind, id, cpu, how, 0) }
inline kfree_skb_napi_cache(i, kind, id, cpu, how) {
  run_destructor(i, kind, id, cpu); free_skb(i, kind, id, cpu, how, !sb_fc[i])
}
/* skbuff.alloc_skb(): the next skb id, held by (kind, id) */
inline alloc_skb(owner, cpu, ts, seq, end, fin, zc, fc, kind, id) {
  if :: c_napi[cpu] > 0 -> c_napi[cpu] = c_napi[cpu] - 1 :: else -> skip fi;
  h_skb = nskb; nskb++;
  sb_owner[h_skb] = owner; sb_ts[h_skb] = ts; sb_seq[h_skb] = seq; sb_end[h_skb] = end; sb_fin[h_skb] = fin;
  sb_acpu[h_skb] = cpu; sb_zc[h_skb] = zc; sb_fc[h_skb] = fc; sb_sk[h_skb] = -1; sb_dtor[h_skb] = 0;
  sb_wk[h_skb] = (kind == K_TASK -> W_HTASK : (kind == K_SOFT -> W_HSOFT : (kind == K_HOT -> W_HHOT : W_HRX)));
  sb_wa[h_skb] = id; sb_wb[h_skb] = 0
}
/* accounting.sk_rmem_schedule_and_charge() */
inline charge(sk, cpu, ts) {
  h_a = ts - s_fwd[sk];
  if :: h_a <= 0 -> h_b = 0 :: else -> h_b = (h_a + PAGE - 1) / PAGE fi;
  h_c = s_fwd[sk];
  if :: h_b > 0 -> h_c = h_c + h_b * PAGE; pcpu_add(cpu, h_b) :: else -> skip fi;
  s_rmem[sk] = s_rmem[sk] + ts; s_fwd[sk] = h_c - ts
}
/* core.unlink(): the head of sk's receive queue to its task */
inline unlink_head(sk) {
  h_i = s_rq[sk * NSKB];
  h_k = 0; do :: h_k + 1 < NSKB -> s_rq[sk * NSKB + h_k] = s_rq[sk * NSKB + h_k + 1]; h_k++ :: else -> break od;
  s_rq[sk * NSKB + NSKB - 1] = 0; s_rqn[sk] = s_rqn[sk] - 1;
  hand(h_i, K_TASK, sk, W_HTASK, sk, 0)
}
/* DeferRecord.position: where the slot's count has skb i */
#define POS(i) (sb_dplace[i] >= 0 -> sb_dplace[i] : sb_dcount[i])
/* defer.kick_defer_list_purge() */
inline kick_purge(cpu) {
  c_unserved[cpu] = 1;
  if :: !c_sched[cpu] -> c_sched[cpu] = 1; c_ipiq[cpu] = c_ipiq[cpu] + c_online[cpu] :: else -> skip fi
}
"""
        )

    # -- receive, close ----------------------------------------------------------------------------

    def receive_and_flush(self) -> None:
        # defer-v6 resets the count first; defer-v2, and defer-v6 with fix-F6, detach first
        first_pc = 0 if self.v6 and not self.c.flush_detach_first else 1
        # the F6 candidate fix-F6-flush-resets-empty: an empty slot's count is reset too
        reset_empty = (
            "if :: sl_count[SL(cpu, h_node)] != 0 -> sl_count[SL(cpu, h_node)] = 0; "
            "sl_epoch[SL(cpu, h_node)] = sl_epoch[SL(cpu, h_node)] + 1; sl_kicked[SL(cpu, h_node)] = 0 "
            ":: else -> skip fi; "
            if self.c.flush_resets_empty
            else ""
        )
        consume = _b(self.c.napi_consume_defers)
        run = "c_unserved[cpu] = 0; enter_slot(cpu, 0, rxsk, txcpu)"
        if not self.c.flush_before_poll:
            # before 909876500251 the run polls first and flushes once after its polls; before
            # f3412b3879b4 too, a run with nothing to poll returns before that flush
            flush = "c_unserved[cpu] = 0; enter_slot(cpu, 0, -1, -1)"
            if not self.c.idle_run_flushes:
                flush = f"if :: h_z == -1 && h_id == -1 -> skip :: else -> {flush} fi"
            run = (
                "h_z = rxsk; h_id = txcpu;\n"
                "  if :: h_z != -1 -> napi_poll_rx(h_z) :: else -> skip fi;\n"
                "  if :: h_id != -1 -> napi_consume_tx(cpu, h_id) :: else -> skip fi;\n"
                f"  {flush}"
            )
        # napi_poll_rx for a socket known only at run time (flush.py: _enter_slot)
        self.emit(
            f"""
/* receive.napi_poll_rx(): build sk's next packet on its RX CPU, charge it, queue it */
inline napi_poll_rx(sk) {{
  h_j = sk * MAXRX + s_rx[sk]; h_cpu = rx_cpu[h_j];
  h_f = s_rnxt[sk] - rx_ovl[h_j]; h_g = h_f + rx_len[h_j] + rx_fin[h_j];
  alloc_skb(sk, h_cpu, rx_ts[h_j], h_f, h_g, rx_fin[h_j], rx_zc[h_j], rx_fc[h_j], K_RX, h_cpu);
  charge(sk, h_cpu, rx_ts[h_j]);
  touch(h_skb, K_RX, h_cpu); sb_sk[h_skb] = sk; sb_dtor[h_skb] = 1;
  hand(h_skb, K_RX, h_cpu, W_RCV, sk, 0);
  s_rx[sk] = s_rx[sk] + 1; s_rnxt[sk] = h_g;
  s_rq[sk * NSKB + s_rqn[sk]] = h_skb; s_rqn[sk] = s_rqn[sk] + 1;
  if :: rx_fin[h_j] -> s_st[sk] = 1 :: else -> skip fi
}}
/* flush.napi_consume_tx() */
inline napi_consume_tx(cpu, txcpu) {{
  alloc_skb(-1, txcpu, 768, 0, 0, 0, 0, 0, K_SOFT, cpu);
  if :: !{consume} || txcpu == cpu -> kfree_skb_napi_cache(h_skb, K_SOFT, cpu, cpu, {H["tx_complete"]})
     :: else -> f_has[cpu] = 1; f_node[cpu] = 0; f_pc[cpu] = 3; f_rxsk[cpu] = -1; f_txcpu[cpu] = -1;
                CD_RESET(cpu); cd_has[cpu] = 1; cd_skb[cpu] = h_skb fi
}}
/* flush._enter_slot(): the flush reaches slot node0 of cpu; skip empty ones; past the last, poll */
inline enter_slot(cpu, node0, rxsk, txcpu) {{
  h_node = node0; h_z = rxsk; h_id = txcpu;
  do
  :: h_node < {self.nslots} && sl_n[SL(cpu, h_node)] == 0 -> {reset_empty}h_node++
  :: else -> break
  od;
  softirq_none(cpu);
  if :: h_node < {self.nslots} ->
        f_has[cpu] = 1; f_node[cpu] = h_node; f_pc[cpu] = {first_pc}; f_rxsk[cpu] = h_z; f_txcpu[cpu] = h_id
     :: else ->
        if :: h_z != -1 -> napi_poll_rx(h_z) :: else -> skip fi;
        if :: h_id != -1 -> napi_consume_tx(cpu, h_id) :: else -> skip fi
  fi
}}
inline net_rx_action(cpu, rxsk, txcpu) {{
  c_rxpend[cpu] = 0; {run}
}}
"""
        )

    def subtractors(self) -> None:
        """flush.subtract_detached() (fix-F11), once per array the detached skbs are read from: the
        flush's batch (``subtract_flush``) and dev_cpu_dead()'s slot list (``subtract_dead``)."""
        if not (self.v6 and self.c.flush_subtracts_detached):
            return
        for name, arr in (("flush", "f_batch"), ("dead", "sl_list")):
            self.emit(
                f"""
/* h_g = position h_f less the n detached skbs {arr}[base..] counted below it */
inline moved_{name}(base, n) {{
  h_g = h_f; h_v = 0;
  do :: h_v < n -> if :: POS({arr}[base + h_v]) < h_f -> h_g-- :: else -> skip fi; h_v++ :: else -> break od
}}
/* slot sl of (cpu, node) loses the n detached skbs {arr}[base..]; the first ``pushed`` skbs of its
   list (pushed after the detach) and the attempts counted on it, not yet pushed, keep their order */
inline subtract_{name}(cpu, node, sl, base, n, pushed) {{
  sl_count[sl] = sl_count[sl] - n; sl_epoch[sl] = sl_epoch[sl] + 1; sl_kicked[sl] = 0;
  h_w = 0;
  do :: h_w < pushed -> h_f = POS(sl_list[sl * NSKB + h_w]); moved_{name}(base, n);
        sb_dplace[sl_list[sl * NSKB + h_w]] = h_g; h_w++
     :: else -> break od;
  h_w = 0;
  do :: h_w < NSOCK ->
        if :: td_has[h_w] && td_pc[h_w] == 3 && td_cpu[h_w] == cpu && td_node[h_w] == node ->
              h_f = (td_place[h_w] >= 0 -> td_place[h_w] : td_count[h_w]); moved_{name}(base, n); td_place[h_w] = h_g
           :: else -> skip fi; h_w++
     :: else -> break od;
  h_w = 0;
  do :: h_w < NCPU ->
        if :: cd_has[h_w] && cd_pc[h_w] == 3 && cd_cpu[h_w] == cpu && cd_node[h_w] == node ->
              h_f = (cd_place[h_w] >= 0 -> cd_place[h_w] : cd_count[h_w]); moved_{name}(base, n); cd_place[h_w] = h_g
           :: else -> skip fi; h_w++
     :: else -> break od
}}
"""
            )

    # -- invariants ---------------------------------------------------------------------------------

    def state_checks(self) -> str:
        """The state invariants, as one inline run after every step."""
        r = self.report
        page = self.c.page_size
        out = ["inline check_state() {\n"]
        for sk in range(self.nsock):
            charged = " + ".join(
                f"((sb_wk[{i}] == W_RCV || sb_wk[{i}] == W_ERR) && sb_wa[{i}] == {sk} -> sb_ts[{i}] : 0)"
                for i in range(self.nskb)
            )
            # and the skb a task has unlinked with its uncharge not yet written (invariants._uncharging)
            pending = f"(t_rfh[{sk}] -> sb_ts[t_rfs[{sk}]] : 0)"
            out.append(r("rmem_matches_charged", f"s_rmem[{sk}] != {pending} + {charged}"))
            out.append(r("forward_alloc_nonnegative", f"s_fwd[{sk}] < 0"))
        # page_conservation: every socket holds whole pages; the protocol count equals their sum
        out.append("h_a = 0; h_b = 0;\n")
        for sk in range(self.nsock):
            data = " + ".join(
                f"(sb_wk[{i}] == W_RCV && sb_wa[{i}] == {sk} -> sb_ts[{i}] : 0)" for i in range(self.nskb)
            )
            out.append(f"h_c = s_fwd[{sk}] + (t_rfh[{sk}] -> sb_ts[t_rfs[{sk}]] : 0) + {data};\n")
            out.append(f"if :: h_c % {page} != 0 -> h_b = 1 :: else -> h_a = h_a + h_c / {page} fi;\n")
        counted = "g_mem + " + " + ".join(f"c_pcpu[{c}]" for c in range(self.ncpu))
        out.append(r("page_conservation", f"h_b || {counted} != h_a"))
        rsv = self.c.mem_pcpu_rsv
        for c in range(self.ncpu):
            bad = f"c_pcpu[{c}] != 0" if rsv == 0 else f"!(-{rsv} < c_pcpu[{c}] && c_pcpu[{c}] < {rsv})"
            out.append(r("pcpu_within_reserve", bad))
            out.append(r("offline_cpu_has_no_queued_ipi", f"!c_online[{c}] && c_ipiq[{c}] != 0"))
            # only kernels with the guard (97e719a82b43) hold the flag while the IPI is queued
            held = f" || (c_ipiq[{c}] && !c_sched[{c}])" if self.c.ipi_guard else ""
            out.append(r("at_most_one_ipi_in_flight", f"c_ipiq[{c}] > 1{held}"))
        for i in range(self.nskb):
            out.append(r("freed_at_most_once", f"sb_nfree[{i}] > 1"))
            out.append(r("no_touch_after_handoff", f"sb_stray[{i}] != 0"))
            held = f"(sb_wk[{i}] == W_DEFER || sb_wk[{i}] == W_HSOFT || sb_wk[{i}] == W_HHOT)"
            refs = f"(sb_sk[{i}] != -1 || sb_dtor[{i}] != 0 || sb_zc[{i}])"
            out.append(r("deferred_skb_holds_no_refs", f"{held} && {refs}"))
            v6rules = f" || cpu_node[sb_dprod[{i}]] != sb_wb[{i}] || sb_dcount[{i}] >= sb_dmax[{i}]" if self.v6 else ""
            out.append(
                r(
                    "placed_by_the_rules",
                    f"sb_wk[{i}] == W_DEFER && (!sb_dhas[{i}] || sb_acpu[{i}] != sb_wa[{i}]{v6rules})",
                )
            )
        if not self.v6:
            for c in range(self.ncpu):
                out.append(r("v2_count_matches_list", f"sl_count[SL({c}, 0)] != sl_n[SL({c}, 0)]"))
        out.append("}\n")
        return "".join(out)

    def quiescent_checks(self) -> str:
        """The liveness invariants, checked in quiescent states (properties/invariants.py)."""
        r = self.report
        out = ["inline check_quiescent() {\n"]
        for c in range(self.ncpu):
            out.append(r("kick_leads_to_flush", f"c_online[{c}] && c_unserved[{c}]"))
            for node in range(self.nnode):
                sl = f"SL({c}, {node})"
                out.append(
                    r("no_wedged_slot", f"g_max >= 2 && c_online[{c}] && sl_n[{sl}] == 0 && sl_count[{sl}] >= g_max")
                )
                if self.c.hotplug_flush:
                    out.append(r("dead_cpu_slots_emptied", f"!c_online[{c}] && !c_dead[{c}] && sl_n[{sl}] != 0"))
        # deferred_skbs_freed_or_allowed: waiting_reasons() per skb on a slot; without the guard, a
        # kick whose IPI failed on the CPU offline is lost (as long as every NET_RX run flushes)
        cfg = self.c
        lost = _b(not cfg.ipi_guard and (cfg.flush_before_poll or cfg.idle_run_flushes))
        for i in range(self.nskb):
            where = f"sb_wa[{i}]"
            below = f"(sb_dhas[{i}] && POS({i}) - 1 < sb_dmax[{i}] / 2)"
            allowed = (
                f"(c_online[{where}] && !c_unserved[{where}] && !c_rxpend[{where}] && {below})"
                f" || (c_online[{where}] && c_sched[{where}] && !c_ipiq[{where}] && !c_rxpend[{where}])"
                f" || (!c_online[{where}] && {'0' if self.c.hotplug_flush else '1'})"
                f" || (!c_online[{where}] && !c_dead[{where}])"
                f" || (c_online[{where}] && c_unserved[{where}] && !c_ipiq[{where}] && !c_rxpend[{where}] && {lost})"
            )
            out.append(r("deferred_skbs_freed_or_allowed", f"sb_wk[{i}] == W_DEFER && !({allowed})"))
        # kicks_match_crossings: a slot epoch kicked iff a push of that epoch reached the kick point
        out.append(self.kicks_match())
        out.append("}\n")
        return "".join(out)

    def kicks_match(self) -> str:
        r = self.report
        out = []
        # fix-F8: a push past the kick point of the maximum it read crosses too
        at = ">=" if self.c.kick_once_per_epoch else "=="
        for c in range(self.ncpu):
            for node in range(self.nnode):
                sl = f"SL({c}, {node})"
                # every crossing has a kick
                out.append(
                    f"h_i = 0; h_b = 0; do :: h_i < nskb -> "
                    f"if :: sb_dhas[h_i] && sb_acpu[h_i] == {c} && sb_dnode[h_i] == {node} && "
                    f"sb_dcount[h_i] {at} sb_dmax[h_i] / 2 + 1 -> "
                    f"h_k = 0; h_ok = 0; do :: h_k < sl_nk[{sl}] -> "
                    f"if :: sl_kep[{sl} * NSKB + h_k] == sb_depoch[h_i] -> h_ok = 1 :: else -> skip fi; h_k++ "
                    f":: else -> break od; if :: !h_ok -> h_b = 1 :: else -> skip fi "
                    f":: else -> skip fi; h_i++ :: else -> break od;\n"
                )
                # every kick has a crossing
                out.append(
                    f"h_k = 0; do :: h_k < sl_nk[{sl}] -> h_ok = 0; h_i = 0; do :: h_i < nskb -> "
                    f"if :: sb_dhas[h_i] && sb_acpu[h_i] == {c} && sb_dnode[h_i] == {node} && "
                    f"sb_dcount[h_i] {at} sb_dmax[h_i] / 2 + 1 && sb_depoch[h_i] == sl_kep[{sl} * NSKB + h_k] -> "
                    f"h_ok = 1 :: else -> skip fi; h_i++ :: else -> break od; "
                    f"if :: !h_ok -> h_b = 1 :: else -> skip fi; h_k++ :: else -> break od;\n"
                )
                out.append(r("kicks_match_crossings", "h_b"))
        return "".join(out)

    # -- the actions ----------------------------------------------------------------------------

    def actions(self) -> list[tuple[str, str, str, bool]]:
        """(guard, body, printed action, environment) per action instance, in spec/system.py's order."""
        acts: list[tuple[str, str, str, bool]] = []
        c = self.c
        for sk in range(self.nsock):
            acts += self.socket_actions(sk)
        if c.page_pool_kick:
            acts.append(self.page_pool())
        for cpu in range(self.ncpu):
            acts += self.cpu_actions(cpu)
        acts += self.env_actions()
        return acts

    def socket_actions(self, sk: int) -> list[tuple[str, str, str, bool]]:
        r = self.report
        cur = f"({sk} * MAXRX + s_rx[{sk}])"
        has_rx = f"(s_rx[{sk}] < n_rx[{sk}])"
        pcpu = f"rx_cpu[{cur}]"
        arrives_guard = (
            f"{has_rx} && !rx_eq[{cur}] && !t_has[{sk}] && !{self.rx_in_flight(sk)} && s_st[{sk}] == 0 && "
            f"c_online[{pcpu}] && !f_has[{pcpu}] && rx_len[{cur}] >= 0 && rx_ovl[{cur}] >= 0 && rx_ts[{cur}] > 0 && "
            f"rx_ovl[{cur}] < rx_len[{cur}] + rx_fin[{cur}]"
        )
        # arrival_flushes_first: built in this step iff the CPU's slots were all empty
        slots = " || ".join(f"sl_n[SL(h_cpu, {node})] > 0" for node in range(self.nnode))
        arrives = f"h_cpu = {pcpu}; h_w = ({slots}); h_v = nskb; net_rx_action(h_cpu, {sk}, -1);\n"
        arrives += r("arrival_flushes_first", "h_w == (nskb > h_v)")
        eq_guard = f"{has_rx} && rx_eq[{cur}] && !s_destroyed[{sk}] && c_online[{pcpu}]"
        queued = (
            f"touch(h_skb, K_RX, h_cpu); sb_sk[h_skb] = {sk}; sb_dtor[h_skb] = 2;\n"
            f"hand(h_skb, K_RX, h_cpu, W_ERR, {sk}, 0);\n"
            f"s_rx[{sk}] = s_rx[{sk}] + 1; s_rmem[{sk}] = s_rmem[{sk}] + rx_ts[h_j];\n"
            f"s_eq[{sk} * NSKB + s_eqn[{sk}]] = h_skb; s_eqn[{sk}] = s_eqn[{sk}] + 1"
        )
        if self.c.errqueue_refuses_closed:  # fix-F1: refused once close() began; the caller frees it
            queued = (
                f"if :: s_shut[{sk}] -> kfree_skb(h_skb, K_RX, h_cpu, h_cpu, {H['errqueue_refused']}); "
                f"s_rx[{sk}] = s_rx[{sk}] + 1\n   :: else -> {queued} fi"
            )
        eq = (
            f"h_j = {cur}; h_cpu = rx_cpu[h_j];\n"
            f"alloc_skb({sk}, h_cpu, rx_ts[h_j], 0, 0, rx_fin[h_j], rx_zc[h_j], rx_fc[h_j], K_RX, h_cpu);\n"
            f"{queued};\n"
        )
        op = f"({sk} * MAXOPS + s_ops[{sk}])"

        def syscall(close: int) -> str:
            return (
                f"!t_has[{sk}] && !{self.rx_in_flight(sk)} && s_ops[{sk}] < n_ops[{sk}] && "
                f"op_close[{op}] == {close} && c_online[op_cpu[{op}]]"
            )

        recv_start = (
            f"t_has[{sk}] = 1; t_close[{sk}] = 0; t_cpu[{sk}] = op_cpu[{op}]; t_phase[{sk}] = 0; "
            f"t_left[{sk}] = op_n[{op}]; t_unread[{sk}] = 0; s_ops[{sk}] = s_ops[{sk}] + 1;\n"
        )
        between = f"t_has[{sk}] && !td_has[{sk}]"
        # a task between tcp_sock_rfree()'s read and its write (no Config.rmem_atomic) writes next
        pend = f"t_rfh[{sk}]"
        copy_guard = (
            f"{between} && !t_close[{sk}] && ({pend} || (t_left[{sk}] != 0 && s_rqn[{sk}] > 0)) && {self.task_ok(sk)}"
        )
        eat = self.eat(sk)
        copy = (
            f"h_skb = s_rq[{sk} * NSKB];\n"
            f"h_a = s_cseq[{sk}] - sb_seq[h_skb];\n"
            f"h_b = sb_end[h_skb] - sb_seq[h_skb] - sb_fin[h_skb] - h_a;\n"
            f"h_c = (h_b < t_left[{sk}] -> h_b : t_left[{sk}]); if :: h_c < 0 -> h_c = 0 :: else -> skip fi;\n"
            f"s_cseq[{sk}] = s_cseq[{sk}] + h_c; t_left[{sk}] = t_left[{sk}] - h_c;\n"
            f"if :: h_c < h_b -> skip\n"
            f"   :: else -> if :: sb_fin[h_skb] -> s_cseq[{sk}] = s_cseq[{sk}] + 1; t_left[{sk}] = 0 "
            f":: else -> skip fi;\n"
            f"      {eat} fi;\n"
        )
        end_guard = (
            f"{between} && !t_close[{sk}] && !{pend} && !(t_left[{sk}] && s_rqn[{sk}] > 0) && {self.task_ok(sk)}"
        )
        # fix-F1-purge-errqueue: after the receive queue, one more PurgeStep purges the error queue (a
        # listener's close too); only then the decision
        errq = self.c.close_purges_errqueue
        listen_phase = 1 if errq else 2
        close_start = (
            f"t_has[{sk}] = 1; t_close[{sk}] = 1; t_cpu[{sk}] = op_cpu[{op}]; t_left[{sk}] = 0; t_unread[{sk}] = 0;\n"
            f"s_ops[{sk}] = s_ops[{sk}] + 1; s_shut[{sk}] = 1;\n"
            f"if :: s_st[{sk}] == 4 -> t_phase[{sk}] = {listen_phase}; s_st[{sk}] = 5 "
            f":: else -> t_phase[{sk}] = 1 fi;\n"
        )
        queue_left = "1" if errq else f"s_rqn[{sk}] > 0"
        purge_guard = (
            f"{between} && t_close[{sk}] && ({pend} || (t_phase[{sk}] == 1 && {queue_left})) && {self.task_ok(sk)}"
        )
        if self.c.unread_test == "end_seq":
            unread = f"if :: sb_end[h_skb] - sb_fin[h_skb] > s_cseq[{sk}] -> t_unread[{sk}] = 1 :: else -> skip fi;\n"
        else:
            unread = f"t_unread[{sk}] = t_unread[{sk}] + sb_end[h_skb] - sb_seq[h_skb] - sb_fin[h_skb];\n"
        if self.c.close_path == "close-new":
            free = eat
        else:
            free = f"unlink_head({sk}); kfree_skb(h_skb, K_TASK, {sk}, t_cpu[{sk}], {H['kfree_skb']});\n"
        purge = f"h_skb = s_rq[{sk} * NSKB];\n{unread}{free}"
        if errq:
            purge = (
                f"if :: s_rqn[{sk}] == 0 ->\n"
                f"h_j = 0; do :: h_j < s_eqn[{sk}] -> h_i = s_eq[{sk} * NSKB + h_j]; "
                f"hand(h_i, K_TASK, {sk}, W_HTASK, {sk}, 0); "
                f"kfree_skb(h_i, K_TASK, {sk}, t_cpu[{sk}], {H['close:err_queue']}); "
                f"s_eq[{sk} * NSKB + h_j] = 0; h_j++ :: else -> break od; s_eqn[{sk}] = 0; t_phase[{sk}] = 2\n"
                f":: else ->\n{purge} fi;\n"
            )
        decide_guard = (
            f"{between} && t_close[{sk}] && !{pend} && !(t_phase[{sk}] == 1 && {queue_left}) && {self.task_ok(sk)}"
        )
        decide = (
            f"h_a = s_st[{sk}]; h_b = s_aoc[{sk}]; h_c = s_rst[{sk}]; h_d = s_fin[{sk}];\n"
            f"h_e = (h_a == 1 -> s_rnxt[{sk}] - 1 : s_rnxt[{sk}]);\n"
            f"if :: s_st[{sk}] == 5 -> skip\n"
            f"   :: else -> if :: s_repair[{sk}] -> s_st[{sk}] = 5\n"
            f"   :: else -> if :: t_unread[{sk}] != 0 -> s_st[{sk}] = 5; s_aoc[{sk}] = s_aoc[{sk}] + 1; "
            f"s_rst[{sk}] = s_rst[{sk}] + 1\n"
            f"   :: else -> if :: s_linger[{sk}] && s_lingertime[{sk}] == 0 -> "
            f"s_rst[{sk}] = s_rst[{sk}] + (s_st[{sk}] <= 2 -> 1 : 0); s_st[{sk}] = 5; s_aod[{sk}] = s_aod[{sk}] + 1\n"
            f"   :: else -> if :: s_st[{sk}] == 0 -> s_st[{sk}] = 2; s_fin[{sk}] = s_fin[{sk}] + 1\n"
            f"                 :: s_st[{sk}] == 1 -> s_st[{sk}] = 3; s_fin[{sk}] = s_fin[{sk}] + 1\n"
            f"                 :: else -> s_st[{sk}] = 5 fi fi fi fi fi;\n"
            f"task_none({sk});\n"
            + r("rmem_zero_after_purge", f"s_rmem[{sk}] != 0")
            + r("abort_counted_once_per_close", f"s_aoc[{sk}] - h_b > 1")
            # rst_iff_data_lost: the data after copied_seq that was never read
            + f"h_f = s_aoc[{sk}] - h_b; h_g = s_rst[{sk}] - h_c; h_d = s_fin[{sk}] - h_d;\n"
            + r(
                "rst_iff_data_lost",
                f"h_a != 5 && h_a != 4 && !s_repair[{sk}] && ("
                f"(h_e > s_cseq[{sk}] && !(h_f == 1 && h_g == 1 && h_d == 0)) || "
                f"(h_e <= s_cseq[{sk}] && h_f != 0) || "
                f"(h_e <= s_cseq[{sk}] && !(s_linger[{sk}] && s_lingertime[{sk}] == 0) && !(h_g == 0 && h_d == 1)))",
            )
        )
        destruct_guard = f"!s_destroyed[{sk}] && s_shut[{sk}] && !t_has[{sk}] && s_ops[{sk}] == n_ops[{sk}]"
        first_online = self.first_online()
        destruct = (
            f"{first_online}\n"
            f"h_j = 0; do :: h_j < s_rqn[{sk}] -> h_i = s_rq[{sk} * NSKB + h_j]; "
            f"hand(h_i, K_TASK, {sk}, W_HTASK, {sk}, 0); "
            f"kfree_skb(h_i, K_TASK, {sk}, h_cpu, {H['destruct:rcv_queue']}); "
            f"s_rq[{sk} * NSKB + h_j] = 0; h_j++ :: else -> break od; s_rqn[{sk}] = 0;\n"
            f"h_j = 0; do :: h_j < s_eqn[{sk}] -> h_i = s_eq[{sk} * NSKB + h_j]; "
            f"hand(h_i, K_TASK, {sk}, W_HTASK, {sk}, 0); "
            f"kfree_skb(h_i, K_TASK, {sk}, h_cpu, {H['destruct:err_queue']}); "
            f"s_eq[{sk} * NSKB + h_j] = 0; h_j++ :: else -> break od; s_eqn[{sk}] = 0;\n"
            f"s_destroyed[{sk}] = 1;\n"
            f"if :: s_fwd[{sk}] >= PAGE -> h_e = s_fwd[{sk}] / PAGE :: else -> h_e = 0 fi;\n"
            f"if :: h_e > 0 -> pcpu_add(h_cpu, -h_e) :: else -> skip fi;\n"
            f"s_fwd[{sk}] = s_fwd[{sk}] - h_e * PAGE; s_res[{sk}] = 0;\n"
            + r("rmem_zero_at_destruction", f"s_rmem[{sk}] != 0 || s_fwd[{sk}] != 0")
        )
        acts = [
            (arrives_guard, arrives, f"PacketArrives {sk}", False),
            (eq_guard, eq, f"ErrQueueCharge {sk}", False),
            (syscall(0), recv_start, f"RecvStart {sk}", False),
            (copy_guard, self.pending_write(sk, copy), f"RecvCopy {sk}", False),
            (end_guard, f"task_none({sk});\n", f"RecvEnd {sk}", False),
            (syscall(1), close_start, f"CloseStart {sk}", False),
            (purge_guard, self.pending_write(sk, purge), f"PurgeStep {sk}", False),
            (decide_guard, decide, f"CloseDecide {sk}", False),
        ]
        acts += self.defer_steps("td", sk, f"t_cpu[{sk}]", self.task_ok(sk), "Defer{} " + str(sk), task=True)
        acts.append((destruct_guard, destruct, f"SockDestruct {sk}", True))
        return acts

    def pending_write(self, sk: int, body: str) -> str:
        """The task's step: the pending write of tcp_sock_rfree() if there is one, else ``body``."""
        if self.c.rmem_atomic:
            return body
        return f"if :: t_rfh[{sk}] ->\n{self.rfree_write(sk)}:: else ->\n{body}fi;\n"

    def first_online(self) -> str:
        """h_cpu = the lowest-numbered online CPU."""
        return "h_cpu = 0; do :: h_cpu < NCPU && !c_online[h_cpu] -> h_cpu++ :: else -> break od;"

    def eat(self, sk: int) -> str:
        """close.tcp_eat_recv_skb() of h_skb, the head of sk's queue."""
        if self.c.rmem_atomic:
            uncharge = self.uncharge_and_defer(sk)
        else:  # before f278b6d5bb46: read sk_rmem_alloc now, write it back in the task's next step
            uncharge = f"t_rfh[{sk}] = 1; t_rfs[{sk}] = h_skb; t_rfv[{sk}] = s_rmem[sb_sk[h_skb]]"
        return (
            f"unlink_head({sk});\n"
            f"if :: sb_dtor[h_skb] != 1 || sb_sk[h_skb] == -1 -> "
            f"kfree_skb(h_skb, K_TASK, {sk}, t_cpu[{sk}], {H['kfree_skb']})\n"
            f"   :: else -> {uncharge} fi;\n"
        )

    def uncharge_and_defer(self, sk: int) -> str:
        """close._uncharge_and_defer() of h_skb: sock_rfree(), detach it, start the defer attempt."""
        return (
            f"h_sk = sb_sk[h_skb]; sock_rfree(h_sk, t_cpu[{sk}], sb_ts[h_skb]); "
            f"touch(h_skb, K_TASK, {sk}); sb_dtor[h_skb] = 0; sb_sk[h_skb] = -1;\n"
            f"      TD_RESET({sk}); td_has[{sk}] = 1; td_skb[{sk}] = h_skb"
        )

    def rfree_write(self, sk: int) -> str:
        """close.rfree_write(): the read value less the truesize becomes sk_rmem_alloc, then the
        rest of the uncharge and the hand-off."""
        return (
            f"h_skb = t_rfs[{sk}]; s_rmem[{sk}] = t_rfv[{sk}]; t_rfh[{sk}] = 0; t_rfs[{sk}] = 0; t_rfv[{sk}] = 0;\n"
            f"{self.uncharge_and_defer(sk)};\n"
        )

    def defer_steps(
        self, p: str, x: int, here: str, ok: str, label: str, *, task: bool
    ) -> list[tuple[str, str, str, bool]]:
        """skb_attempt_defer_free()'s steps (spec/defer.py) for a task (p="td", x=socket) or a
        softirq's napi_consume_skb() (p="cd", x=CPU)."""
        r = self.report
        kind, ident = ("K_TASK", x) if task else ("K_SOFT", x)
        done = f"TD_RESET({x})" if task else f"softirq_none({x})"

        def free_now(how: str) -> str:
            return f"kfree_skb_napi_cache(h_skb, {kind}, {ident}, {here}, {H['nodefer:' + how]}); {done}"

        pre = f"h_skb = {p}_skb[{x}];\n"
        zc = "sb_zc[h_skb]" if self.c.zcopy_check else "0"
        check = (
            pre + f"h_cpu = sb_acpu[h_skb]; h_ok = c_online[h_cpu]; h_e = {here};\n"
            f"if :: {zc} -> {free_now('zcopy')}\n"
            f"   :: else -> if :: h_cpu == {here} -> {free_now('same_cpu')}\n"
            f"   :: else -> if :: !c_online[h_cpu] -> {free_now('offline')}\n"
            f"   :: else -> {p}_pc[{x}] = 1; {p}_cpu[{x}] = h_cpu; {p}_chk[{x}] = c_gen[h_cpu] fi fi fi;\n"
            + r("defer_check_sees_online", "sb_nfree[h_skb] == 0 && (h_cpu == h_e || !h_ok)")
        )
        c = self.c
        if self.v6:
            read = f"{p}_pc[{x}] = 2; {p}_node[{x}] = cpu_node[{here}]; {p}_max[{x}] = g_max; {p}_read[{x}] = {here}"
            if c.defer_test_first:  # fix-F5: the chosen slot's count tested before any increment
                read = (
                    f"if :: sl_count[SL({p}_cpu[{x}], cpu_node[{here}])] >= g_max -> {free_now('full')}\n"
                    f"   :: else -> {read} fi"
                )
            read = pre + read + ";\n"
        else:
            read = (
                pre + f"h_a = sl_count[SL({p}_cpu[{x}], 0)];\n"
                f"if :: h_a >= g_max -> {free_now('full')}\n"
                f"   :: else -> {p}_pc[{x}] = 3; {p}_max[{x}] = g_max; {p}_read[{x}] = {here}; "
                f"{p}_seen[{x}] = h_a fi;\n"
            )
        # fix-F5-increment-below-max: the cmpxchg loop adds nothing when the count would be full
        add = "" if c.defer_count_below_max else "sl_count[h_j] = h_a; "
        added = "sl_count[h_j] = h_a; " if c.defer_count_below_max else ""
        # fix-F8: the increment claims the epoch's kick (the slot's kicked bit) at or above half
        claim = (
            f"if :: !sl_kicked[h_j] && h_a - 1 >= {p}_max[{x}] / 2 -> sl_kicked[h_j] = 1; {p}_claimed[{x}] = 1 "
            f":: else -> skip fi; "
            if c.kick_once_per_epoch
            else ""
        )
        count = (
            pre + f"h_j = SL({p}_cpu[{x}], {p}_node[{x}]); h_a = sl_count[h_j] + 1; {add}\n"
            f"if :: h_a >= {p}_max[{x}] -> {free_now('full')}\n"
            f"   :: else -> {added}{claim}{p}_pc[{x}] = 3; {p}_count[{x}] = h_a; {p}_cnton[{x}] = {here}; "
            f"{p}_cep[{x}] = sl_epoch[h_j] fi;\n"
        )
        if self.v6:
            rec = (
                f"sb_depoch[h_skb] = {p}_cep[{x}]; sb_dcount[h_skb] = {p}_count[{x}]; "
                f"sb_dccpu[h_skb] = {p}_cnton[{x}];\n"
            )
        else:
            rec = (
                f"sb_depoch[h_skb] = sl_epoch[h_j]; sb_dcount[h_skb] = sl_count[h_j] + 1; "
                f"sb_dccpu[h_skb] = {here}; sl_count[h_j] = sl_count[h_j] + 1;\n"
            )
        if self.v6 and c.kick_once_per_epoch:
            kick = f"h_b = {p}_claimed[{x}];\n"
        elif self.v6:
            kick = f"h_b = ({p}_count[{x}] - 1 == {p}_max[{x}] / 2);\n"
        elif c.kick_once_per_epoch:  # fix-F8 under the lock: the count before this skb
            kick = (
                f"h_b = (!sl_kicked[h_j] && sl_count[h_j] >= {p}_max[{x}] / 2); "
                f"if :: h_b -> sl_kicked[h_j] = 1 :: else -> skip fi;\n"
            )
        elif c.v2_kick_count == "before":
            kick = f"h_b = (sl_count[h_j] == {p}_max[{x}] / 2);\n"
        else:  # before c09b0cd2cc6c: the count after this skb's increment
            kick = f"h_b = (sl_count[h_j] + 1 == {p}_max[{x}] / 2);\n"
        # kick_at_half_capacity: the count before this push (v6: before its increment) at half the max
        before = f"{p}_count[{x}] - 1" if self.v6 else "sl_count[h_j]"
        if c.kick_once_per_epoch:
            kick += r("kick_at_half_capacity", f"h_b && {before} < {p}_max[{x}] / 2")
        else:
            kick += r("kick_at_half_capacity", f"h_b != ({before} == {p}_max[{x}] / 2)")
        push = (
            pre + f"h_cpu = {p}_cpu[{x}]; h_j = SL(h_cpu, {p}_node[{x}]);\n{kick}"
            f"touch(h_skb, {kind}, {ident}); sb_dhas[h_skb] = 1; sb_dprod[h_skb] = {p}_read[{x}]; "
            f"sb_dnode[h_skb] = {p}_node[{x}]; sb_dmax[h_skb] = {p}_max[{x}]; sb_dseen[h_skb] = {p}_seen[{x}]; "
            f"sb_dchk[h_skb] = {p}_chk[{x}]; sb_dpush[h_skb] = c_gen[h_cpu]; sb_dplace[h_skb] = {p}_place[{x}];\n{rec}"
            f"sl_list[h_j * NSKB + sl_n[h_j]] = h_skb; sl_n[h_j] = sl_n[h_j] + 1;\n"
            f"hand(h_skb, {kind}, {ident}, W_DEFER, h_cpu, {p}_node[{x}]);\n"
            + r("no_push_to_offline_cpu", "!c_online[h_cpu]")
            + f"if :: h_b -> {p}_pc[{x}] = 4; {p}_cep[{x}] = sb_depoch[h_skb] :: else -> {done} fi;\n"
        )
        kickstep = (
            f"h_cpu = {p}_cpu[{x}]; h_j = SL(h_cpu, {p}_node[{x}]); h_a = {p}_cep[{x}]; h_c = {p}_max[{x}];\n"
            f"h_b = 0; h_k = 0; do :: h_k < sl_nk[h_j] -> if :: sl_kep[h_j * NSKB + h_k] == h_a -> h_b = 1 "
            f":: else -> skip fi; h_k++ :: else -> break od;\n"
            + r("one_kick_per_slot_epoch", "h_b")
            + "sl_kep[h_j * NSKB + sl_nk[h_j]] = h_a; sl_kmax[h_j * NSKB + sl_nk[h_j]] = h_c; "
            "sl_nk[h_j] = sl_nk[h_j] + 1;\n"
        )
        if c.ipi_guard:
            kickstep += f"{done}; kick_purge(h_cpu);\n"
        else:
            # before 97e719a82b43: smp_call_function_single_async() tests the descriptor's lock
            # flag (locked: -EBUSY) and locks and queues it in the next step
            kickstep += f"c_unserved[h_cpu] = 1; if :: c_ipiq[h_cpu] > 0 -> {done} :: else -> {p}_pc[{x}] = 5 fi;\n"
        csdstep = f"h_cpu = {p}_cpu[{x}]; {done}; c_ipiq[h_cpu] = c_ipiq[h_cpu] + c_online[h_cpu];\n"
        steps = [("Check", 0, check), ("Read", 1, read)]
        if self.v6:
            steps.append(("Count", 2, count))
        steps += [("Push", 3, push), ("Kick", 4, kickstep)]
        if not c.ipi_guard:
            steps.append(("Kick", 5, csdstep))
        out = []
        for name, pc, body in steps:
            if task:
                guard = f"td_has[{x}] && td_pc[{x}] == {pc} && {ok}"
                out.append((guard, body, label.format(name), False))
            else:
                guard = f"f_has[{x}] && f_pc[{x}] == 3 && cd_has[{x}] && cd_pc[{x}] == {pc}"
                out.append((guard, body, label, False))
        return out

    def cpu_actions(self, cpu: int) -> list[tuple[str, str, str, bool]]:
        r = self.report
        acts: list[tuple[str, str, str, bool]] = []
        if self.s.env.tx_completions:
            acts.append(
                (
                    f"e_tx < NTX && tx_on[e_tx] == {cpu} && c_online[{cpu}] && !f_has[{cpu}]",
                    f"h_a = tx_built[e_tx]; e_tx++; net_rx_action({cpu}, -1, h_a);\n",
                    f"TxComplete {cpu}",
                    False,
                )
            )
        acts.append(
            (
                f"c_ipiq[{cpu}] > 0 && c_online[{cpu}]",
                f"c_ipiq[{cpu}] = c_ipiq[{cpu}] - 1; c_rxpend[{cpu}] = 1; c_sched[{cpu}] = 0;\n",
                f"IpiDeliver {cpu}",
                False,
            )
        )
        acts.append(
            (
                f"c_rxpend[{cpu}] && c_online[{cpu}] && !f_has[{cpu}]",
                f"net_rx_action({cpu}, -1, -1);\n",
                f"SoftirqStart {cpu}",
                False,
            )
        )
        sl = f"SL({cpu}, f_node[{cpu}])"
        detach_first = self.v6 and self.c.flush_detach_first  # fix-F6: detach, reset, free
        if self.v6:
            reset = f"sl_count[{sl}] = 0; sl_epoch[{sl}] = sl_epoch[{sl}] + 1; sl_kicked[{sl}] = 0; "
            if self.c.flush_subtracts_detached:  # fix-F11: subtract what was detached
                reset = (
                    f"h_j = {sl}; subtract_flush({cpu}, f_node[{cpu}], h_j, {cpu} * NSKB, f_bn[{cpu}], "
                    f"sl_n[h_j]); h_j = 0;\n"
                )
            acts.append(
                (
                    f"f_has[{cpu}] && f_pc[{cpu}] == 0",
                    f"{reset}f_pc[{cpu}] = {2 if detach_first else 1};\n",
                    f"FlushReset {cpu}",
                    False,
                )
            )
        v2reset = "" if self.v6 else "sl_count[h_j] = 0; sl_epoch[h_j] = sl_epoch[h_j] + 1; sl_kicked[h_j] = 0;\n"
        acts.append(
            (
                f"f_has[{cpu}] && f_pc[{cpu}] == 1",
                f"h_j = {sl};\n{v2reset}"
                f"h_k = 0; do :: h_k < sl_n[h_j] -> h_i = sl_list[h_j * NSKB + h_k]; "
                f"f_batch[{cpu} * NSKB + h_k] = h_i; hand(h_i, K_SOFT, {cpu}, W_HSOFT, {cpu}, 0); "
                f"sl_list[h_j * NSKB + h_k] = 0; h_k++ :: else -> break od;\n"
                f"f_bn[{cpu}] = sl_n[h_j]; sl_n[h_j] = 0; f_pc[{cpu}] = {0 if detach_first else 2};\n",
                f"FlushDetach {cpu}",
                False,
            )
        )
        acts.append(
            (
                f"f_has[{cpu}] && f_pc[{cpu}] == 2",
                f"h_j = 0; do :: h_j < f_bn[{cpu}] -> h_i = f_batch[{cpu} * NSKB + h_j]; "
                + r("flush_frees_locally", f"sb_acpu[h_i] != {cpu}")
                + f"kfree_skb_napi_cache(h_i, K_SOFT, {cpu}, {cpu}, {H['flush']}); h_j++ :: else -> break od;\n"
                f"enter_slot({cpu}, f_node[{cpu}] + 1, f_rxsk[{cpu}], f_txcpu[{cpu}]);\n",
                f"FlushFree {cpu}",
                False,
            )
        )
        if self.s.env.tx_completions and self.c.napi_consume_defers:
            acts += self.defer_steps("cd", cpu, str(cpu), "", f"NapiConsumeSkb {cpu}", task=False)
        flush = ""
        if self.c.hotplug_flush:
            # fix-F11: dev_cpu_dead() subtracts what it takes, as the flush does
            subtract = self.v6 and self.c.flush_subtracts_detached
            count = f"subtract_dead({cpu}, h_node, h_j, h_j * NSKB, sl_n[h_j], 0); " if subtract else ""
            reset = "" if subtract else "sl_count[h_j] = 0; sl_epoch[h_j] = sl_epoch[h_j] + 1; sl_kicked[h_j] = 0; "
            flush = (
                f"h_cpu = 0; do :: h_cpu < NCPU && (!c_online[h_cpu] || h_cpu == {cpu}) -> h_cpu++ "
                f":: else -> break od;\n"
                f"h_node = 0; do :: h_node < NNODE -> h_j = SL({cpu}, h_node); {count}"
                f"h_k = 0; do :: h_k < sl_n[h_j] -> h_i = sl_list[h_j * NSKB + h_k]; "
                f"hand(h_i, K_HOT, {cpu}, W_HHOT, {cpu}, 0); "
                f"kfree_skb(h_i, K_HOT, {cpu}, h_cpu, {H['hotplug_flush']}); "
                f"sl_list[h_j * NSKB + h_k] = 0; h_k++ :: else -> break od; "
                f"sl_n[h_j] = 0; {reset}h_node++ "
                f":: else -> break od;\n"
            )
        acts.append(
            (
                f"c_dead[{cpu}]",
                f"c_dead[{cpu}] = 0; c_gen[{cpu}] = c_gen[{cpu}] + 1;\n{flush}",
                f"DevCpuDead {cpu}",
                False,
            )
        )
        return acts

    def page_pool(self) -> tuple[str, str, str, bool]:
        body = (
            "if :: !pp_has -> e_ppr = e_ppr - 1; h_cpu = 0\n"
            "   :: else -> kick_purge(pp_cpu); h_cpu = pp_cpu + 1 fi;\n"
            "do :: h_cpu < NCPU && !c_online[h_cpu] -> h_cpu++ :: else -> break od;\n"
            "if :: h_cpu < NCPU -> pp_has = 1; pp_cpu = h_cpu :: else -> pp_has = 0; pp_cpu = 0 fi;\n"
        )
        return ("pp_has || e_ppr > 0", body, "PagePoolRetry", False)

    def env_actions(self) -> list[tuple[str, str, str, bool]]:
        acts: list[tuple[str, str, str, bool]] = []
        full = self.c.preempt == "full"
        # a task is stopped inside skb_attempt_defer_free() only under full preemption, without fix-F7
        stoppable = full and not self.c.defer_preempt_off
        if self.s.env.migrations:
            for sk in range(self.nsock):
                for cpu in range(self.ncpu):
                    inside = "" if stoppable else f" && !td_has[{sk}]"
                    if stoppable and not self.c.ipi_guard:
                        inside = f" && !{self.in_csd(sk)}"
                    acts.append(
                        (
                            f"e_mig > 0 && t_has[{sk}]{inside} && t_cpu[{sk}] != {cpu} && c_online[{cpu}]",
                            f"e_mig = e_mig - 1; t_cpu[{sk}] = {cpu};\n",
                            f"Migrate {sk} {cpu}",
                            True,
                        )
                    )
        for cpu in range(self.ncpu):
            if self.s.env.netrx_raises:
                acts.append(
                    (
                        f"e_netrx > 0 && c_online[{cpu}] && !c_rxpend[{cpu}]",
                        f"e_netrx = e_netrx - 1; c_rxpend[{cpu}] = 1;\n",
                        f"RaiseNetRx {cpu}",
                        True,
                    )
                )
            if self.s.env.offlines:
                others = " || ".join(f"c_online[{o}]" for o in range(self.ncpu) if o != cpu) or "0"
                blocked = " || ".join(f"(c_online[{o}] && f_has[{o}])" for o in range(self.ncpu))
                if not self.c.ipi_guard:  # core.in_csd_call(): preemption off, stop_machine() waits
                    blocked += " || " + " || ".join(self.in_csd(sk) for sk in range(self.nsock))
                if not stoppable:
                    blocked += " || " + " || ".join(f"td_has[{sk}]" for sk in range(self.nsock))
                if not full or self.c.page_pool_cpus_lock:  # fix-F2: the walk holds cpus_read_lock()
                    blocked += " || pp_has"
                body = (
                    f"e_off = e_off - 1;\n"
                    f"if :: c_ipiq[{cpu}] -> c_ipiq[{cpu}] = 0; c_rxpend[{cpu}] = 1; c_sched[{cpu}] = 0 "
                    f":: else -> skip fi;\n"
                    f"h_cpu = 0; do :: h_cpu < NCPU && (!c_online[h_cpu] || h_cpu == {cpu}) -> h_cpu++ "
                    f":: else -> break od;\n"
                    + "".join(
                        f"if :: t_has[{sk}] && t_cpu[{sk}] == {cpu} -> t_cpu[{sk}] = h_cpu :: else -> skip fi;\n"
                        for sk in range(self.nsock)
                    )
                    + f"c_online[{cpu}] = 0; c_dead[{cpu}] = 1; c_gen[{cpu}] = c_gen[{cpu}] + 1;\n"
                )
                acts.append(
                    (f"e_off > 0 && c_online[{cpu}] && ({others}) && !({blocked})", body, f"CpuOffline {cpu}", True)
                )
                acts.append(
                    (
                        f"!c_online[{cpu}] && !c_dead[{cpu}]",
                        f"c_online[{cpu}] = 1; c_gen[{cpu}] = c_gen[{cpu}] + 1;\n",
                        f"CpuOnline {cpu}",
                        True,
                    )
                )
        if self.s.env.defer_max_writes:
            for v in self.s.env.defer_max_values:
                acts.append(
                    (
                        f"e_writes > 0 && g_max != {v}",
                        f"g_max = {v}; e_writes = e_writes - 1;\n",
                        f"SetDeferMax {v}",
                        True,
                    )
                )
        return acts

    # -- the whole model -------------------------------------------------------------------------

    def label_id(self, label: str) -> int:
        return self.labels.setdefault(label, len(self.labels) + 1)

    def render(self) -> str:
        self.declarations()
        if self.script is not None:
            ids = [self.label_id(label) for label in self.script]
            self.emit(f"byte pos = 0;\nbyte script[{max(1, len(ids))}] = {_arr(ids or [0])};")
        self.primitives()
        self.subtractors()
        self.receive_and_flush()
        self.emit(self.state_checks())
        self.emit(self.quiescent_checks())
        acts = self.actions()
        busy = " || ".join(f"({g})" for g, _, _, env in acts if not env) or "0"
        self.emit(f"#define BUSY ({busy})")
        # forward_alloc_bound: after each step, every socket whose sk_rmem_alloc went down
        fab = "".join(
            self.report(
                "forward_alloc_bound",
                f"s_rmem[{sk}] < h_pre_rmem[{sk}] && !(0 <= s_fwd[{sk}] - "
                f"(s_res[{sk}] == 0 -> 0 : (s_res[{sk}] - s_rmem[{sk}] > 0 -> s_res[{sk}] - s_rmem[{sk}] : 0)) && "
                f"s_fwd[{sk}] - (s_res[{sk}] == 0 -> 0 : (s_res[{sk}] - s_rmem[{sk}] > 0 -> "
                f"s_res[{sk}] - s_rmem[{sk}] : 0)) < PAGE)",
            )
            for sk in range(self.nsock)
        )
        save = "".join(f"h_pre_rmem[{sk}] = s_rmem[{sk}]; " for sk in range(self.nsock))
        clear = " ".join(f"{h} = 0;" for h in SCRATCH) + "".join(f" h_pre_rmem[{sk}] = 0;" for sk in range(self.nsock))
        if not self.bfs:
            clear = ""  # hidden: no state holds them
        # The state and quiescence invariants are checked once per state, by a step that leads
        # back to the same state (pan counts it as a transition to a state already seen): one
        # copy of the checks instead of one per action keeps pan.c small enough to compile fast.
        lines = [
            "active proctype spec() {",
            "end:",
            "do",
            f":: d_step {{ 1 -> check_state(); if :: !BUSY -> check_quiescent() :: else -> skip fi;\n  {clear}\n}}",
        ]
        for guard, body, label, _ in acts:
            if self.script is not None:  # follow the script: only its next action is enabled
                guard = f"{guard}) && (pos < {len(self.script)} && script[pos] == {self.label_id(label)}"
                body = "pos++;\n" + body
            words = label.split()
            fmt = " ".join([words[0]] + ["%d"] * (len(words) - 1))
            args = "".join(f", {w}" for w in words[1:])
            lines.append(
                f':: d_step {{ ({guard}) ->\n  printf("ACT {fmt}\\n"{args});\n  {save}\n{body}{fab}  {clear}\n}}'
            )
        lines.append("od\n}")
        self.emit("\n".join(lines))
        return _calls("\n".join(self.out) + "\n", self.tables)


def _calls(text: str, names: list[str]) -> str:
    """``name[index]`` -> ``name(index)`` for the constant tables (brackets may nest)."""
    for name in names:
        out, pos = [], 0
        pattern = re.compile(rf"\b{name}\[")
        while (m := pattern.search(text, pos)) is not None:
            depth, i = 1, m.end()
            while depth:
                depth += {"[": 1, "]": -1}.get(text[i], 0)
                i += 1
            out.append(text[pos : m.start()] + f"{name}({text[m.end() : i - 1]})")
            pos = i
        text = "".join(out) + text[pos:]
    return text


def label(action: Action) -> str:
    """How the Promela names a spec action (its printf, its script entry)."""
    return " ".join([type(action).__name__, *(str(v) for v in attrs.astuple(action))])


def render(initial: State, max_reports: int = 1, script: Sequence[Action] | None = None, bfs: bool = True) -> str:
    """The Promela model of the spec from ``initial`` (a booted state of model/small.py).
    ``script``: the model takes exactly these actions, in order, and nothing else (a trace
    followed by SPIN); ``bfs``: for pan's breadth-first or multi-core search (both refuse hidden variables).
    Raises SpecError with one line when the state or its Config cannot be rendered."""
    return _Gen(initial, max_reports, None if script is None else [label(a) for a in script], bfs).render()
