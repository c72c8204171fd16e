"""The actions: one frozen record per indivisible kernel step.

Where the kernel does two things another CPU can observe in between, they are two actions.
A task's or softirq's next step is named by the socket or CPU alone: its program counter
(``Task``/``DeferCtx``/``FlushCtx``) says which step it is, so traces stay short and readable.

Actions marked ``environment`` are stimuli from outside the code under study (scheduler
migration, unrelated traffic, hotplug, sysctl writes); a run is quiescent when no other action is
enabled. Their reprs are valid Python, so a trace printed as a list can be pasted back.
"""

from __future__ import annotations

from typing import ClassVar

import attrs


@attrs.frozen
class Action:
    """Base of all actions."""

    environment: ClassVar[bool] = False


# -- the receive side (softirq on the RX CPU; error queue without the socket lock) ---------------


@attrs.frozen
class PacketArrives(Action):
    """The next workload packet for socket ``sk`` reaches its RX CPU: NET_RX runs there, its
    flush first; once the flush is over the NAPI poll builds the skb, charges it and queues it
    (in this step when that CPU's defer slots are all empty)."""

    sk: int


@attrs.frozen
class ErrQueueCharge(Action):
    """An error-queue skb is charged to ``sk`` and queued, without the socket lock."""

    sk: int


# -- process context, socket locked --------------------------------------------------------------


@attrs.frozen
class RecvStart(Action):
    """recvmsg() begins: the task takes the socket lock."""

    sk: int


@attrs.frozen
class RecvCopy(Action):
    """recvmsg() copies from the head skb; an skb fully read is eaten (tcp_eat_recv_skb())."""

    sk: int


@attrs.frozen
class RecvEnd(Action):
    """recvmsg() returns and releases the socket lock."""

    sk: int


@attrs.frozen
class CloseStart(Action):
    """close() enters __tcp_close(): socket locked, shutdown marked."""

    sk: int


@attrs.frozen
class PurgeStep(Action):
    """One iteration of the purge loop: test the head skb for unread data, then free it."""

    sk: int


@attrs.frozen
class CloseDecide(Action):
    """The RST/FIN decision after the purge; the socket lock is released."""

    sk: int


@attrs.frozen
class SockDestruct(Action):
    """The closed socket's last reference goes: inet_sock_destruct() purges its queues (the
    error queue's skbs are uncharged and freed) and gives back its memory. An environment
    action: when the last reference goes is not the close path's choice."""

    environment: ClassVar[bool] = True
    sk: int


# -- skb_attempt_defer_free(), called by the task of socket ``sk`` -------------------------------


@attrs.frozen
class DeferCheck(Action):
    """Zero-copy (where the kernel has the test), same-CPU, range and online checks."""

    sk: int


@attrs.frozen
class DeferRead(Action):
    """The plain reads before the increment: v6, this CPU's node and skb_defer_max; v2,
    skb_defer_max and the racy pre-check of the count against it."""

    sk: int


@attrs.frozen
class DeferCount(Action):
    """defer-v6: increment the chosen slot's defer_count; fall back if it reached the max read."""

    sk: int


@attrs.frozen
class DeferPush(Action):
    """Put the skb on the slot's list (v6: llist_add; v2: under the lock, with the count)."""

    sk: int


@attrs.frozen
class DeferKick(Action):
    """kick_defer_list_purge(): claim defer_ipi_scheduled and queue the IPI if it was clear."""

    sk: int


# -- the owning CPU ------------------------------------------------------------------------------


@attrs.frozen
class IpiDeliver(Action):
    """The defer IPI's handler runs on ``cpu``: raise NET_RX, then clear defer_ipi_scheduled."""

    cpu: int


@attrs.frozen
class SoftirqStart(Action):
    """NET_RX runs on ``cpu``: the pending bit is cleared and net_rx_action() starts its flush
    (skipping empty slots; a run over empty slots ends here)."""

    cpu: int


@attrs.frozen
class FlushReset(Action):
    """defer-v6 flush of the current node slot, found non-empty: set defer_count to 0."""

    cpu: int


@attrs.frozen
class FlushDetach(Action):
    """Take the whole list (v6: llist_del_all; v2: detach and reset under the lock)."""

    cpu: int


@attrs.frozen
class FlushFree(Action):
    """Free the detached skbs on ``cpu`` (napi_consume_skb) and move to the next non-empty slot;
    past the last, the run's NAPI poll builds the packet it was started for, and the run ends."""

    cpu: int


@attrs.frozen
class TxComplete(Action):
    """A TX completion reaches ``cpu``: NET_RX runs there, its flush first; then the NAPI poll
    completes the next TX skb (napi_consume_skb()), built on another CPU."""

    cpu: int


@attrs.frozen
class NapiConsumeSkb(Action):
    """The next step of the skb_attempt_defer_free() that napi_consume_skb() makes in ``cpu``'s
    NAPI poll (e20dfbad8aab): check, read, count, push or kick, as its program counter says."""

    cpu: int


@attrs.frozen
class DevCpuDead(Action):
    """dev_cpu_dead() for ``cpu`` runs on a surviving CPU."""

    cpu: int


@attrs.frozen
class PagePoolRetry(Action):
    """The next step of page_pool_release_retry() (a workqueue): start its walk of the CPUs,
    read the next CPU's online bit, or kick that CPU's defer lists through the IPI guard."""


# -- the environment -----------------------------------------------------------------------------


@attrs.frozen
class Migrate(Action):
    """The scheduler moves socket ``sk``'s task to ``cpu`` between two of its steps."""

    environment: ClassVar[bool] = True
    sk: int
    cpu: int


@attrs.frozen
class RaiseNetRx(Action):
    """Unrelated network activity raises NET_RX on ``cpu``."""

    environment: ClassVar[bool] = True
    cpu: int


@attrs.frozen
class CpuOffline(Action):
    """``cpu`` is taken down: marked offline, its tasks migrated, its queued IPIs run."""

    environment: ClassVar[bool] = True
    cpu: int


@attrs.frozen
class CpuOnline(Action):
    """``cpu`` comes back online."""

    environment: ClassVar[bool] = True
    cpu: int


@attrs.frozen
class SetDeferMax(Action):
    """A write to net.core.skb_defer_max."""

    environment: ClassVar[bool] = True
    value: int


ALL_ACTIONS: tuple[type[Action], ...] = (
    PacketArrives,
    ErrQueueCharge,
    RecvStart,
    RecvCopy,
    RecvEnd,
    CloseStart,
    PurgeStep,
    CloseDecide,
    SockDestruct,
    DeferCheck,
    DeferRead,
    DeferCount,
    DeferPush,
    DeferKick,
    IpiDeliver,
    SoftirqStart,
    FlushReset,
    FlushDetach,
    FlushFree,
    TxComplete,
    NapiConsumeSkb,
    DevCpuDead,
    PagePoolRetry,
    Migrate,
    RaiseNetRx,
    CpuOffline,
    CpuOnline,
    SetDeferMax,
)
