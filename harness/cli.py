"""The ``algoaudit`` command line: the composition root, and the only module that sees every package.

Each command parses its arguments, calls one library function and reports; exit codes and
user-facing messages are chosen here and nowhere else.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="algoaudit",
    help="Black-box audits of recommender systems, and a sandbox platform to prove them on.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The sandbox platform: a feed, hot list and shop with switchable violations.",
                          no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
console = Console(stderr=True)


@sandbox_app.command("serve")
def sandbox_serve(
    faults: Annotated[Optional[Path], typer.Option(help="YAML fault file (see README: Fault file).")] = None,
    fault: Annotated[list[str], typer.Option(help="NAME=VALUE on top of the file, e.g. cocoon=0.8 or chaos.error_rate=0.05; repeatable.")] = [],  # noqa: B006
    corpus: Annotated[list[Path], typer.Option(help="JSONL corpus of items or products; repeatable. Default: built-in content.")] = [],  # noqa: B006
    port: Annotated[int, typer.Option(help="TCP port on the host.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind; keep it on loopback.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Seed for every random choice the platform makes.")] = 0,
    data_dir: Annotated[Path, typer.Option(help="Folder of the platform database and the ground truth.")] = Path(".algoaudit/sandbox"),
    fresh: Annotated[bool, typer.Option(help="Delete the data folder first: no accounts, no ground truth.")] = False,
    session_gap: Annotated[float, typer.Option(help="Seconds of inactivity after which a new app session starts.")] = 1800.0,
    hot_interval: Annotated[float, typer.Option(help="Seconds between hot-list updates.")] = 60.0,
) -> None:
    """Serve the sandbox platform on loopback.

    Example: algoaudit sandbox serve --fault not_interested_ignored=1.0 --port 8765
    """
    from sandbox import SandboxConfig, SandboxConfigError, load_catalog, load_faults, serve

    try:
        loaded = load_faults(faults, fault)
        if fresh and data_dir.exists():
            shutil.rmtree(data_dir)
        config = SandboxConfig(
            data_dir=data_dir, faults=loaded, seed=seed, corpora=tuple(corpus),
            session_gap_s=session_gap, hot_interval_s=hot_interval,
        )
        console.print(f"sandbox on http://{host}:{port}  faults: {loaded.active() or 'none (compliant)'}",
                      highlight=False, markup=False)
        console.print(f"ground truth: {data_dir / 'ground_truth.sqlite'}", highlight=False, markup=False)
        serve(config, host=host, port=port)
    except SandboxConfigError as exc:
        console.print(f"error: {exc}", style="red", highlight=False, markup=False)
        raise typer.Exit(2) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
