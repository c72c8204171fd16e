"""Hypothesis strategies for initial states: small machines, kernels and workloads within the
bounds of model/machines.py. ``Focus`` pins parts of the draw (a kernel variant, a machine) so
that a mutant test or a finding can aim at the configuration that exposes it."""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from model import kernels
from model.machines import BOUNDS, MACHINES
from model.scenarios import socket
from spec import Config, Env, Incoming, State, UserOp, boot

# Truesizes around a page, so charges and reclaims cross page boundaries with few skbs.
TRUESIZES = (768, 2304, 4096)
# A receive sequence start far from the wrap, and one that wraps within a few segments.
ISNS = (1_000_000, (1 << 32) - 1500)


@attrs.frozen
class Focus:
    """Parts of the draw to pin (None: drawn)."""

    close_path: str | None = None
    defer: str | None = None
    unread_test: str | None = "end_seq"  # None: drawn (the old summed test reaches finding F4)
    machine: str | None = None
    hotplug: bool = False  # allow CPU offline/online events
    hotplug_flush: bool | None = None
    errqueue: bool = False  # allow error-queue skbs
    isn: int | None = None
    rx_cpu: int | None = None  # every packet built on this CPU (the attack's shape)
    defer_max: int | None = None
    close_cpus: tuple[int, ...] | None = None  # one socket per entry, closed on that CPU
    sysctl_values: tuple[int, ...] | None = None  # the values skb_defer_max may be written to
    aimed: bool = False  # CPU offline and sysctl writes only inside the windows they aim at
    sysctl_writes: int | None = None  # how many times skb_defer_max may be written
    slow: tuple[str, ...] = ()  # kinds of step always slow in this machine's examples (properties/machines.py)
    min_skbs: int = 0  # the fewest skbs per socket (the attack's shape needs a few to cross the kick point)
    # Each socket reads at least once, on its close CPU, before it closes: under close-old
    # (before b13592d20b21) recvmsg() is the only task that defers, so a race needs a reader.
    reader: bool = False
    preempt: str | None = None  # Config.preempt; None: drawn
    # Config.zcopy_check: True pins the stable kernels' test; None draws it (without it, a
    # zero-copy skb is deferred: finding F9).
    zcopy_check: bool | None = True
    # A named kernel (model/kernels.py): its switches replace whatever the fields above pin or
    # draw for them (check --kernel); its constants (skb_defer_max, NAPI cache) stay drawn small.
    kernel: str | None = None
    # Draw the behaviours before the fixes of 2022 and 2025 (Config.ipi_guard, v2_kick_count,
    # flush_before_poll, idle_run_flushes, rmem_atomic). Off by default: each is a fixed bug that
    # the invariants report as a violation, so only a run that looks for them sets it (and a
    # before-<id> kernel pins them through ``kernel``).
    history: bool = False
    # Draw the candidate fixes of the findings (Config's fix fields, model/kernels.py "fix-*"),
    # each on or off; otherwise every one is off, as in every released kernel.
    fixes: bool = False

    def label(self) -> str:
        """The pinned fields only, e.g. ``defer=defer-v2,machine=2cpu-2node``."""
        default = Focus()
        pinned = [
            f"{f.name}={getattr(self, f.name)}"
            for f in attrs.fields(Focus)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ",".join(pinned) or "default"


@st.composite
def packets(draw: st.DrawFn, ncpus: int, focus: Focus) -> list[Incoming]:
    n = draw(st.integers(focus.min_skbs, BOUNDS.max_skbs_per_socket))
    out = []
    for i in range(n):
        last = i == n - 1
        length = draw(st.sampled_from((1448, 1, 0) if last else (1448, 1)))
        fin = last and (length == 0 or draw(st.booleans()))
        out.append(
            Incoming(
                cpu=draw(st.integers(0, ncpus - 1)) if focus.rx_cpu is None else focus.rx_cpu,
                length=length,
                truesize=draw(st.sampled_from(TRUESIZES)),
                fin=fin,
                overlap=draw(st.sampled_from((0, 0, min(length, 1000)))) if i else 0,
                zcopy=draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()),
                fclone=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    if focus.errqueue and draw(st.booleans()):
        at = draw(st.integers(0, len(out)))
        out.insert(at, Incoming(cpu=draw(st.integers(0, ncpus - 1)), length=0, truesize=768, errqueue=True))
    return [p for p in out if p.overlap < p.length + int(p.fin) or p.errqueue]


@st.composite
def _fixes(draw: st.DrawFn) -> dict[str, object]:
    """The Config fields of the candidate fixes (model/kernels.py FIX_SWITCHES), each switch drawn on
    or off and taken with the fixes it needs; one whose fields contradict those already taken (a
    combination the kernel table refuses) stays off. Every other fix field keeps its default."""
    fields: dict[str, object] = {}
    for switch in kernels.FIX_SWITCHES:
        if not draw(st.booleans()):
            continue
        wanted = {k: v for sid in (*switch.needs, switch.id) for k, v in kernels.SWITCHES[sid].on.items()}
        if all(fields.get(k, v) == v for k, v in wanted.items()):
            fields.update(wanted)
    return fields


@st.composite
def _pre_fix(draw: st.DrawFn, config: Config) -> dict[str, object]:
    """The fields of the historical fixes, each drawn with or without its fix where the rest of
    the configuration allows it (boot() refuses the page-pool kick and the TX producer without the
    IPI guard, the TX producer without the flush before each poll, and a defer-v2 kick count on
    defer-v6)."""
    out: dict[str, object] = {"rmem_atomic": draw(st.booleans()), "idle_run_flushes": draw(st.booleans())}
    if not (config.page_pool_kick or config.napi_consume_defers):
        out["ipi_guard"] = draw(st.booleans())
    if not config.napi_consume_defers:
        out["flush_before_poll"] = draw(st.booleans())
    if config.defer == "defer-v2":
        out["v2_kick_count"] = draw(st.sampled_from(("before", "after")))
    return out


@st.composite
def initial_states(draw: st.DrawFn, focus: Focus = Focus()) -> State:
    machine = MACHINES[focus.machine or draw(st.sampled_from(("2cpu-1node", "2cpu-2node", "3cpu-2node")))]
    ncpus = len(machine.cpu_nodes)
    # A small NAPI cache, so that bulk frees to the slab happen within a few skbs.
    napi_size, napi_bulk = draw(st.sampled_from(((4, 2), (2, 1), (3, 3))))
    config = Config(
        close_path=focus.close_path or draw(st.sampled_from(("close-new", "close-old"))),  # type: ignore[arg-type]
        unread_test=focus.unread_test or draw(st.sampled_from(("end_seq", "len_sum"))),  # type: ignore[arg-type]
        defer=focus.defer or draw(st.sampled_from(("defer-v6", "defer-v2"))),  # type: ignore[arg-type]
        hotplug_flush=draw(st.booleans()) if focus.hotplug_flush is None else focus.hotplug_flush,
        # A per-CPU reserve of a few pages, so that folding into memory_allocated happens.
        mem_pcpu_rsv=draw(st.integers(1, 3)),
        # 4 KiB pages, or 16 KiB (arm64): the same truesizes then rarely cross a page.
        page_size=draw(st.sampled_from((4096, 4096, 16384))),
        napi_cache_size=napi_size,
        napi_cache_bulk=napi_bulk,
        preempt=focus.preempt or draw(st.sampled_from(("full", "voluntary", "none"))),  # type: ignore[arg-type]
        zcopy_check=draw(st.booleans()) if focus.zcopy_check is None else focus.zcopy_check,
        page_pool_kick=draw(st.booleans()),
        napi_consume_defers=draw(st.booleans()),
    )
    if focus.history:
        config = attrs.evolve(config, **draw(_pre_fix(config)))  # type: ignore[arg-type]
    if focus.fixes:
        config = attrs.evolve(config, **draw(_fixes()))  # type: ignore[arg-type]
    if focus.kernel is not None:
        config = attrs.evolve(config, **kernels.kernel(focus.kernel).switches())  # type: ignore[arg-type]
    socks = []
    nsocks = draw(st.integers(1, BOUNDS.max_sockets)) if focus.close_cpus is None else len(focus.close_cpus)
    for sk in range(nsocks):
        close_cpu = draw(st.integers(0, ncpus - 1)) if focus.close_cpus is None else focus.close_cpus[sk]
        ops = [
            UserOp(
                "recv",
                close_cpu if focus.reader and i == 0 else draw(st.integers(0, ncpus - 1)),
                draw(st.sampled_from((1, 1000, 1448, 3000))),
            )
            for i in range(draw(st.integers(1 if focus.reader else 0, 2)))
        ]
        ops.append(UserOp("close", close_cpu))
        linger = draw(st.booleans()) and draw(st.booleans())
        # Mostly connected; sometimes a listener (no data, no purge) or reset by the peer (CLOSE).
        sk_state = draw(st.sampled_from(("ESTABLISHED",) * 8 + ("LISTEN", "CLOSE")))
        socks.append(
            socket(
                sk,
                draw(packets(ncpus, focus)),
                ops,
                state=sk_state,
                isn=focus.isn if focus.isn is not None else draw(st.sampled_from(ISNS)),
                reserved_pages=draw(st.sampled_from((0, 0, 1))),
                page_size=config.page_size,
                sock_linger=linger,
                sk_lingertime=draw(st.sampled_from((0, 0, 5))) if linger else 0,
                repair=draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()),
            )
        )
    values = focus.sysctl_values
    if values is None:
        values = tuple(sorted(set(draw(st.lists(st.sampled_from(BOUNDS.defer_max_values), max_size=2)))))
    env = Env(
        migrations=draw(st.integers(0, BOUNDS.max_env_events)),
        netrx_raises=draw(st.integers(0, 3)),
        offlines=draw(st.integers(1, BOUNDS.max_env_events)) if focus.hotplug else 0,
        defer_max_values=values,
        defer_max_writes=0
        if not values
        else (draw(st.integers(0, BOUNDS.max_env_events)) if focus.sysctl_writes is None else focus.sysctl_writes),
        page_pool_releases=draw(st.integers(0, 1)) if config.page_pool_kick else 0,
        tx_completions=tuple(
            draw(st.lists(st.tuples(st.integers(0, ncpus - 1), st.integers(0, ncpus - 1)), max_size=2))
        ),
    )
    defer_max = draw(st.sampled_from(BOUNDS.defer_max_values)) if focus.defer_max is None else focus.defer_max
    return boot(config, machine.cpu_nodes, defer_max, socks, env)
