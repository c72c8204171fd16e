"""A deterministic scheduler that runs a state to quiescence, and the trace it leaves.

Quiescent means no action other than the environment's is enabled: every task, IPI and softirq
has finished. The scheduler is fair: it rotates over the actors (each socket's task and
workload, each CPU's IPI and softirq) and gives each in turn its next enabled action, so every
kick is eventually followed by its IPI and flush. Scripted environment events (a CPU going
offline after the 10th purge step, a sysctl write) fire when their trigger is met.

A *script* runs the sockets' system calls the way one user thread makes them: in a given order,
each call starting only once the previous one has returned, with environment events (a sysctl
write, unrelated NET_RX, a CPU going offline or coming back) at given places between them
(``tcpclose live`` replays what it did on the real kernel this way).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from spec import (
    Action,
    CloseStart,
    DevCpuDead,
    ErrQueueCharge,
    Migrate,
    PacketArrives,
    RecvStart,
    SetDeferMax,
    SockDestruct,
    SpecError,
    State,
    enabled,
    step,
)
from spec.hotplug import survivor


@attrs.frozen
class Trigger:
    """Fire ``action`` once ``after`` has been taken ``count`` times (``count`` 0: at the start)."""

    action: Action
    after: Action | None = None
    count: int = 0


@attrs.frozen
class Run:
    """A run: the initial state, the actions taken, and every state (``states[i+1]`` follows
    ``actions[i]``)."""

    initial: State
    actions: tuple[Action, ...]
    states: tuple[State, ...]
    quiescent: bool

    @property
    def final(self) -> State:
        return self.states[-1]


def actor(action: Action) -> tuple[str, int]:
    """Which actor an action belongs to: a socket's arriving packets (``rx``), a socket's task
    (``sk``) or a CPU (``cpu``). A socket's packets and its application are two actors, so that a
    fair run interleaves reads with arrivals (an arrival then flushes what a read deferred to
    its CPU, FACTS §14) instead of delivering every packet first."""
    if isinstance(action, PacketArrives | ErrQueueCharge):
        return ("rx", action.sk)
    sk = getattr(action, "sk", None)
    if sk is not None:
        return ("sk", sk)
    return ("cpu", getattr(action, "cpu", -1))


def acting_cpu(pre: State, a: Action) -> int | None:
    """The CPU that runs ``a`` in ``pre``: a packet's RX CPU, the task's CPU (or the CPU its next
    system call starts on), the CPU named by a CPU action, the survivor for dev_cpu_dead();
    None for the scheduler's migrations and sysctl writes."""
    if isinstance(a, PacketArrives | ErrQueueCharge):
        return pre.sockets[a.sk].rx[0].cpu
    if isinstance(a, Migrate | SetDeferMax):
        return None
    if isinstance(a, DevCpuDead):
        return survivor(pre, a.cpu)
    if isinstance(a, SockDestruct):  # inet_sock_destruct() on the lowest online CPU (spec/close.py)
        return next(c.id for c in pre.cpus if c.online)
    sk = getattr(a, "sk", None)
    if isinstance(sk, int):
        sock = pre.sockets[sk]
        return sock.owner.cpu if sock.owner is not None else sock.ops[0].cpu
    cpu = getattr(a, "cpu", None)
    return cpu if isinstance(cpu, int) else None


def run(
    state: State,
    *,
    triggers: Sequence[Trigger] = (),
    workload_first: bool = True,
    slow: tuple[type[Action], ...] = (),
    script: Sequence[Action | int] | None = None,
    hold: tuple[type[Action], ...] = (),
    max_steps: int = 1_000_000,
    limit: int | None = None,
) -> Run:
    """Run ``state`` to quiescence under the fair round-robin policy.

    ``workload_first``: deliver every queued packet before anything else (the unread data is
    already there when the application acts), each arrival with the flush its NET_RX run makes
    first. ``slow``: kinds of step taken only when nothing else is enabled (``(IpiDeliver,)``:
    every IPI arrives after the closes are done, the longest latency the kernel allows).
    ``hold``: kinds of step the policy never takes; only ``triggers`` fire them (a scenario that
    paces its packets: each arrives when its trigger says). ``limit``: stop after that many
    steps, quiescent or not. Raises RuntimeError if ``max_steps`` is reached.

    ``script``: the system calls and environment events of one user thread, in order: a socket
    id starts that socket's next call (only once no call is in progress), an environment action
    is taken as it is. Script items rank between the other steps and the ``slow`` kinds: every
    non-slow step that is enabled goes first. A script item that is not enabled when its turn
    comes raises SpecError.
    """
    actions: list[Action] = []
    states: list[State] = [state]
    pending = list(triggers)
    taken: dict[Action, int] = {}
    last: tuple[str, int] | None = None
    left = list(script) if script is not None else []
    for _ in range(max_steps):
        if limit is not None and len(actions) >= limit:
            return Run(states[0], tuple(actions), tuple(states), quiescent=False)
        fired = _fire(state, pending, taken)
        if fired is not None:
            act: Action | None = fired
        else:
            every = [a for a in enabled(state) if not a.environment]
            options = [a for a in every if not isinstance(a, hold)]
            if script is not None:  # calls start only at their turn in the script
                options = [a for a in options if not isinstance(a, RecvStart | CloseStart)]
            fast = [a for a in options if not isinstance(a, slow)]
            if not fast and left and all(s.owner is None for s in state.sockets):
                act = _script_item(state, left.pop(0))
            elif not options:
                if left:
                    raise SpecError(f"the script is stuck before {left[0]!r}: nothing else can run")
                # Quiescent unless held steps are left that no trigger has fired yet.
                quiescent = not any(isinstance(a, hold) for a in every)
                return Run(states[0], tuple(actions), tuple(states), quiescent=quiescent)
            else:
                act = _pick(state, fast or options, last, workload_first)
                last = actor(act)
        assert act is not None
        state = step(state, act)
        actions.append(act)
        states.append(state)
        taken[act] = taken.get(act, 0) + 1
    raise RuntimeError(f"no quiescence after {max_steps} steps")


def _script_item(state: State, item: Action | int) -> Action:
    if isinstance(item, int):
        sock = state.sockets[item]
        if not sock.ops:
            raise SpecError(f"the script starts a call on socket {item}, which has none left")
        act: Action = RecvStart(item) if sock.ops[0].op == "recv" else CloseStart(item)
    else:
        act = item
    if act not in enabled(state):
        raise SpecError(f"the script's {act!r} is not enabled when its turn comes")
    return act


def _fire(state: State, pending: list[Trigger], taken: dict[Action, int]) -> Action | None:
    due = [t for t in pending if t.after is None or taken.get(t.after, 0) >= t.count]
    if not due:
        return None
    now = set(enabled(state))
    for trig in due:
        if trig.action in now:
            pending.remove(trig)
            return trig.action
    return None


def _pick(state: State, options: list[Action], last: tuple[str, int] | None, workload_first: bool) -> Action:
    if workload_first:
        for a in options:
            if isinstance(a, PacketArrives | ErrQueueCharge):
                return a
            cpu = getattr(a, "cpu", None)
            flushing = state.cpus[cpu].softirq if isinstance(cpu, int) and actor(a) == ("cpu", cpu) else None
            if flushing is not None and flushing.rx_sk is not None:  # an arrival's flush, then its skb
                return a
    actors = sorted({actor(a) for a in options})
    nxt = next((k for k in actors if last is None or k > last), actors[0])
    return next(a for a in options if actor(a) == nxt)


def replay(state: State, actions: Sequence[Action]) -> list[State]:
    """Every state of a recorded action list, applied with the spec's own ``step``."""
    states = [state]
    for act in actions:
        state = step(state, act)
        states.append(state)
    return states
