"""``tcpclose``: run scenarios of the spec and compare the two close paths.

Bad input (an unknown scenario, an impossible parameter) ends with one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Table

from model.scenarios import attack, recvmsg_steady
from model.scheduler import run
from spec import State
from spec.core import SpecError

console = Console()


@click.group()
@click.version_option(package_name="tcpclose")
def main() -> None:
    """Verify and measure how Linux frees a closing TCP socket's unread receive buffers."""


@main.command()
@click.argument("name", type=click.Choice(["attack", "recvmsg"]), default="attack")
@click.option("--sockets", default=4, show_default=True, help="sockets closed (attack)")
@click.option("--skbs", default=40, show_default=True, help="unread skbs per socket")
@click.option("--machine", default="2cpu-1node", show_default=True, help="CPU/NUMA layout (model/machines.py)")
@click.option("--defer-max", type=int, default=None, help="net.core.skb_defer_max (default: the kernel's)")
def scenario(name: str, sockets: int, skbs: int, machine: str, defer_max: int | None) -> None:
    """Run a scenario to quiescence under close-old (v6.17) and close-new (v6.18) and compare
    what each did: the socket outcome, the accounting, and which CPU freed what."""
    rows: list[tuple[str, State, int]] = []
    try:
        for kname in ("v6.17", "v6.18"):
            if name == "attack":
                sc = attack(kernel_name=kname, sockets=sockets, skbs=skbs, machine=machine, defer_max=defer_max)
            else:
                sc = recvmsg_steady(kernel_name=kname, skbs=skbs, machine=machine)
            result = run(sc.state, triggers=sc.triggers)
            rows.append((kname, result.final, len(result.actions)))
    except SpecError as err:
        click.echo(f"tcpclose: {err}", err=True)
        sys.exit(2)
    console.print(f"[bold]{sc.doc}[/bold]")
    table = Table("", *(f"{k} ({'close-old' if k == 'v6.17' else 'close-new'})" for k, _, _ in rows))
    for label, measure in MEASURES:
        table.add_row(label, *(measure(final, steps) for _, final, steps in rows))
    console.print(table)


def _frees(final: State) -> str:
    frees = Counter(f"CPU {f.cpu} {f.how}" for skb in final.skbs for f in skb.frees)
    return "\n".join(f"{k}: {v}" for k, v in sorted(frees.items())) or "-"


MEASURES: list[tuple[str, Callable[[State, int], str]]] = [
    ("steps", lambda f, n: str(n)),
    (
        "RST / FIN sent",
        lambda f, n: f"{sum(s.rst_sent for s in f.sockets)} / {sum(s.fin_sent for s in f.sockets)}",
    ),
    ("TCPABORTONCLOSE", lambda f, n: str(sum(s.TCPABORTONCLOSE for s in f.sockets))),
    ("sk_rmem_alloc (sum)", lambda f, n: str(sum(s.sk_rmem_alloc for s in f.sockets))),
    ("sk_forward_alloc (sum)", lambda f, n: str(sum(s.sk_forward_alloc for s in f.sockets))),
    ("protocol pages held", lambda f, n: str(f.memory_allocated + sum(c.per_cpu_fw_alloc for c in f.cpus))),
    ("frees by CPU and path", lambda f, n: _frees(f)),
    (
        "skbs left on defer lists",
        lambda f, n: str(sum(len(s.defer_list) for c in f.cpus for s in c.defer_slots)),
    ),
]
