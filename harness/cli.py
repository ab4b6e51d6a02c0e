"""The ``algoaudit`` command line: the composition root, and the only module that sees every package.

Each command parses its arguments, calls one library function and reports; exit codes and
user-facing messages are chosen here and nowhere else.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from personas import SpecError, library, load_persona

from . import _api
from ._runner import ProgressEvent
from .errors import AlgoauditError, ConfigError

app = typer.Typer(
    name="algoaudit",
    help="Black-box audits of recommender systems, and a sandbox platform to prove them on.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="The sandbox platform: a feed, hot list and shop with switchable violations.",
                          no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
personas_app = typer.Typer(help="The persona library and persona files.", no_args_is_help=True)
app.add_typer(personas_app, name="personas")
campaign_app = typer.Typer(help="Campaign files.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
console = Console(stderr=True)
out = Console()


def _fail(message: str, code: int) -> typer.Exit:
    console.print(message, style="red", highlight=False, markup=False)
    return typer.Exit(code)


class ProgressView:
    """The live view of a run: puppets at work, the round, impressions per second, errors by group and phase."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.active: set[str] = set()
        self.seen_puppets: set[str] = set()
        self.round = "-"
        self.impressions = 0
        self.errors: Counter[tuple[str, str]] = Counter()
        self.sessions: Counter[str] = Counter()
        self.live: Live | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "round_started":
            self.round = f"{event.round}: {event.round_name} ({event.phase}, {event.detail} puppets)"
        elif event.kind == "session_started":
            self.active.add(event.puppet_id)
            self.seen_puppets.add(event.puppet_id)
        elif event.kind == "session_finished":
            self.active.discard(event.puppet_id)
            self.sessions[event.status] += 1
        elif event.kind == "step_done":
            self.impressions += event.impressions
            if event.status != "ok":
                self.errors[(event.group, event.phase)] += 1
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Table:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        table = Table(show_header=False, box=None)
        table.add_row("round", self.round)
        table.add_row("puppets", f"{len(self.active)} at work, {len(self.seen_puppets)} started")
        table.add_row("sessions", ", ".join(f"{k} {v}" for k, v in sorted(self.sessions.items())) or "-")
        table.add_row("impressions", f"{self.impressions} ({self.impressions / elapsed:.1f}/s)")
        errors = ", ".join(f"{g}/{p}: {n}" for (g, p), n in sorted(self.errors.items()))
        table.add_row("errors", errors or "none")
        return table


@app.command("run")
def run_command(
    campaign: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    runs: Annotated[Path, typer.Option(help="Folder that receives the run folder.")] = Path("runs"),
) -> None:
    """Run a campaign into a new run folder, with live progress.

    Example: algoaudit run campaigns/c3-not-interested-zh.yaml --runs runs/
    """
    view = ProgressView()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run_dir: list[Path] = []
    try:
        _api.validate_campaign(campaign)
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            view.live = live
            _api.run(campaign, runs, progress=view, on_start=run_dir.append)
    except (SpecError, ConfigError) as exc:
        raise _fail(f"error: {exc}", 2) from None
    except KeyboardInterrupt:
        where = run_dir[0] if run_dir else "RUN"
        raise _fail(f"interrupted: nothing collected is lost; continue with: algoaudit resume {where}", 130) from None
    except AlgoauditError as exc:
        where = run_dir[0] if run_dir else "RUN"
        raise _fail(f"run stopped: {exc}\ncontinue with: algoaudit resume {where}", 1) from None
    out.print(f"run folder: {run_dir[0]}", highlight=False)


@app.command("resume")
def resume_command(run: Annotated[Path, typer.Argument(help="Run folder.")]) -> None:
    """Continue a stopped run where it stopped: nothing collected is lost, nothing is done twice.

    Example: algoaudit resume runs/c3-not-interested-zh-20261122-101500-ab12
    """
    view = ProgressView()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            view.live = live
            final = _api.resume(run, progress=view)
    except (SpecError, ConfigError) as exc:
        raise _fail(f"error: {exc}", 2) from None
    except KeyboardInterrupt:
        raise _fail(f"interrupted again; continue with: algoaudit resume {run}", 130) from None
    except AlgoauditError as exc:
        raise _fail(f"run stopped: {exc}", 1) from None
    out.print(f"{run}: {final}", highlight=False)
    if final != "complete":
        raise typer.Exit(1)


@app.command("status")
def status_command(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """What a run holds: rounds, sessions and steps by status, impressions, errors, events.

    Example: algoaudit status runs/c3-not-interested-zh-20261122-101500-ab12
    """
    try:
        st = _api.status(run)
    except AlgoauditError as exc:
        raise _fail(f"error: {exc}", 2) from None
    if as_json:
        out.print_json(json.dumps(st.__dict__, default=str))
        return
    table = Table(title=f"{st.run['run_id']} ({st.run['status']})", show_header=False)
    table.add_row("campaign", f"{st.run['campaign_name']} -> {st.run['target_url']} ({st.run['driver']})")
    table.add_row("rounds", f"{st.rounds_done}/{st.rounds_total} finished")
    table.add_row("sessions", ", ".join(f"{k} {v}" for k, v in sorted(st.sessions.items())) or "-")
    table.add_row("steps", ", ".join(f"{k} {v}" for k, v in sorted(st.commands.items())) or "-")
    table.add_row("impressions", f"{st.impressions} of {st.items} distinct items")
    table.add_row("errors", ", ".join(f"{g}/{p}: {n}" for g, p, n in st.errors_by_group_phase) or "none")
    table.add_row("events", ", ".join(f"{k} {v}" for k, v in sorted(st.events.items())) or "none")
    out.print(table)


@campaign_app.command("validate")
def campaign_validate(campaign: Annotated[Path, typer.Argument(help="Campaign YAML file.")]) -> None:
    """Check a campaign file; every mistake is reported with its file, line and field.

    Example: algoaudit campaign validate campaigns/c3-not-interested-zh.yaml
    """
    try:
        loaded = _api.validate_campaign(campaign)
    except SpecError as exc:
        raise _fail(f"error: {exc}", 2) from None
    c = loaded.campaign
    puppets = sum(g.replicas for g in c.groups)
    out.print(f"{campaign}: ok — {len(c.groups)} groups, {puppets} puppets, {len(c.expanded_rounds())} rounds",
              highlight=False)


@personas_app.command("list")
def personas_list() -> None:
    """The personas shipped with algoaudit.

    Example: algoaudit personas list
    """
    table = Table("id", "name", "locale", "device", "age", "interests")
    year = time.gmtime().tm_year
    for pid, p in sorted(library().items()):
        table.add_row(pid, p.name, p.locale, p.device, p.age_band(year), ", ".join(i.topic for i in p.interests) or "-")
    out.print(table)


@personas_app.command("show")
def personas_show(persona: Annotated[str, typer.Argument(help="A library persona id or a persona file.")]) -> None:
    """One persona in full, as YAML-ready JSON.

    Example: algoaudit personas show zh-sports-fan
    """
    try:
        found = load_persona(Path(persona)) if persona.endswith((".yaml", ".yml")) else library().get(persona)
    except SpecError as exc:
        raise _fail(f"error: {exc}", 2) from None
    if found is None:
        raise _fail(f"no persona {persona!r}; see: algoaudit personas list", 2)
    out.print_json(found.model_dump_json())


@personas_app.command("validate")
def personas_validate(files: Annotated[list[Path], typer.Argument(help="Persona files.")]) -> None:
    """Check persona files; every mistake is reported with its file, line and field.

    Example: algoaudit personas validate my-personas/*.yaml
    """
    failed = 0
    for path in files:
        try:
            load_persona(path)
            out.print(f"{path}: ok", highlight=False)
        except SpecError as exc:
            failed += 1
            console.print(f"error: {exc}", style="red", highlight=False, markup=False)
    if failed:
        raise typer.Exit(2)


def _embedding_check() -> _api.DoctorCheck:
    from embeddings import EmbeddingError, default_embedder

    try:
        model = default_embedder()
        vector = model.embed(["体育新闻", "sports news"])
    except EmbeddingError as exc:
        return _api.DoctorCheck("embedding model", False, str(exc))
    return _api.DoctorCheck("embedding model", True, f"{model.model_id}, {vector.shape[1]} dimensions, offline")


@app.command("analyze")
def analyze_command(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    cache: Annotated[Optional[Path], typer.Option(help="Embedding cache (default: beside the run folder).")] = None,
) -> None:
    """Analyse a run's checks into verdicts, stored in its database (tables verdicts, metrics).

    Example: algoaudit analyze runs/c3-not-interested-zh-20261122-101500-ab12
    """
    from audits import analyze

    try:
        result = analyze(run, cache)
    except FileNotFoundError as exc:
        raise _fail(f"error: {exc}", 2) from None
    table = Table("check", "verdict", "effect", "95% CI", "p", "threshold", "twin noise", "MDE", "n (t/c)")
    for v in result.verdicts:
        colour = {"PASS": "green", "FAIL": "red"}.get(v.outcome, "yellow")
        table.add_row(v.check, f"[{colour}]{v.outcome}[/{colour}]", f"{v.effect:.3f}", f"[{v.ci_low:.3f}, {v.ci_high:.3f}]",
                      f"{v.p_value:.3f}", f"{v.threshold:g}", f"{v.noise_sd:.3f}", f"{v.mde:.3f}",
                      f"{v.n_treated}/{v.n_control}")
    out.print(table)
    for v in result.verdicts:
        out.print(f"{v.check}: {v.metric}", highlight=False)
        if v.puppets_needed:
            out.print(f"  about {v.puppets_needed} puppets per group would decide it", highlight=False)
    for check, note in result.notes.items():
        out.print(f"{check}: {note}", highlight=False, markup=False)
    out.print(f"embedded {result.embedded} new texts", highlight=False)


@app.command("doctor")
def doctor_command(
    target: Annotated[Optional[str], typer.Option(help="A platform URL to check for reachability.")] = None,
) -> None:
    """Check this machine: a browser that launches, CJK fonts, the embedding model, the target.

    Example: algoaudit doctor --target http://127.0.0.1:8765
    """
    checks = [*_api.doctor(target), _embedding_check()]
    for check in checks:
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {check.name}: ", end="")
        out.print(check.detail, highlight=False, markup=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command("init")
def init_command(
    path: Annotated[Path, typer.Argument(help="The campaign file to write.")],
    target: Annotated[str, typer.Option(help="The platform's base URL.")] = "http://127.0.0.1:8765",
    persona: Annotated[str, typer.Option(help="The persona of both groups.")] = "zh-sports-fan",
) -> None:
    """Write a commented starting campaign (a not-interested audit with twins and a control).

    Example: algoaudit init my-audit.yaml --persona en-sports-fan
    """
    try:
        written = _api.init_campaign(path, target=target, persona=persona)
    except (FileExistsError, KeyError) as exc:
        raise _fail(f"error: {exc}", 2) from None
    out.print(f"wrote {written}; check it with: algoaudit campaign validate {written}", highlight=False)


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
    from sandbox import SandboxConfig, SandboxConfigError, load_faults, serve

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
