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
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from personas import SpecError, library, load_persona

from . import _api
from ._bundle import make_bundle, verify_bundle
from ._custody import record_custody
from ._keys import PRIVATE_KEY_NAME, default_key_dir, init_keys
from ._runner import ProgressEvent
from ._served import start_sandbox_server
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
# Lines are not wrapped to the console's width (80 columns when piped or under a test runner): a
# path broken across lines cannot be copied or grepped. Tables still fit the width.
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _stop_cleanly_on_signals() -> None:
    """SIGTERM and SIGINT both stop a campaign the way Ctrl-C does (sessions marked interrupted, then
    `resume`). SIGINT is set too because a shell starts background jobs with it ignored, and a
    supervisor's or a test's SIGINT must still stop the run rather than be lost."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    _stop_cleanly_on_signals()
    run_dir: list[Path] = []
    try:
        _api.validate_campaign(campaign)
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            view.live = live
            _api.run(campaign, runs, progress=view,
                     on_start=lambda folder: (run_dir.append(folder), record_custody(folder, "run")))
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
    _stop_cleanly_on_signals()
    try:
        record_custody(run, "resume")
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


def _print_analysis(result: Any) -> None:
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
        record_custody(run, "analyze")
        result = analyze(run, cache)
    except FileNotFoundError as exc:
        raise _fail(f"error: {exc}", 2) from None
    _print_analysis(result)
    out.print(f"embedded {result.embedded} new texts", highlight=False)


@app.command("plan")
def plan_command(
    campaign: Annotated[Path, typer.Argument(help="Campaign file.")],
    pilot: Annotated[Optional[Path], typer.Option(help="An analysed pilot run of the campaign: its twin noise.")] = None,
    effect: Annotated[Optional[float], typer.Option(help="Resolve this difference instead of each check's threshold.")] = None,
) -> None:
    """Power analysis: how many puppets each check of a campaign needs for 80% and 95% power.

    Example: algoaudit plan campaigns/feed-audit-zh.yaml --pilot runs/feed-audit-zh-20261122-101500-ab12 --effect 0.1
    """
    from audits import plan

    try:
        loaded = _api.validate_campaign(campaign)
        plans = plan(loaded.text, pilot, effect)
    except SpecError as exc:
        raise _fail(str(exc), 2) from None
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(f"error: {exc}", 2) from None
    table = Table("check", "effect to resolve", "noise per puppet", "from", "puppets now", "power now",
                  "for 80%", "for 95%")
    for c in plans:
        table.add_row(c.check, f"{c.effect:g}", "—" if c.noise_sd is None else f"{c.noise_sd:.3f}", c.noise_source,
                      " + ".join(map(str, c.puppets_now)) or "—", "—" if c.power_now is None else f"{c.power_now:.0%}",
                      "—" if c.needed_80 is None else f"{c.needed_80}/group", "—" if c.needed_95 is None else f"{c.needed_95}/group")
    out.print(table)
    for c in plans:
        if c.note:
            out.print(f"{c.check}: {c.note}", highlight=False)


@app.command("report")
def report_command(
    run: Annotated[Path, typer.Argument(help="Run folder, analysed with algoaudit analyze.")],
    lang: Annotated[Optional[str], typer.Option(help="zh or en (default: the puppets' locale).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write report.pdf (WeasyPrint).")] = True,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Folder for the report (default: RUN/report).")] = None,
) -> None:
    """Write a run's inspection report: verdicts, methods, power, plots and evidence, as HTML and PDF.

    Example: algoaudit report runs/c3-not-interested-zh-20261122-101500-ab12 --lang en --no-pdf
    """
    from audits import write_report

    if lang not in (None, "zh", "en"):
        raise _fail(f"error: --lang must be zh or en, not {lang!r}", 2)
    try:
        record_custody(run, "report")
        written = write_report(run, out_dir, lang=lang, pdf=pdf)
    except FileNotFoundError as exc:
        raise _fail(f"error: {exc}", 2) from None
    for path in written:
        out.print(f"wrote {path}", highlight=False, markup=False)


@app.command("diff")
def diff_command(
    run_a: Annotated[Path, typer.Argument(help="The reference run folder (A).")],
    run_b: Annotated[Path, typer.Argument(help="The run folder compared with it (B).")],
    html: Annotated[Optional[Path], typer.Option(help="Also write the diff as an HTML page to this file.")] = None,
) -> None:
    """Compare two analysed runs: verdict changes, metric deltas B − A, controls that appeared or vanished.

    Example: algoaudit diff runs/c3-not-interested-zh-20261122-101500-ab12 runs/c3-not-interested-zh-20261123-093000-cd34 --html diff.html
    """
    from rich.text import Text

    from audits import diff_runs, render_diff_html

    try:
        diff = diff_runs(run_a, run_b)
    except FileNotFoundError as exc:
        raise _fail(f"error: {exc}", 2) from None
    yes = "[red]yes[/red]"
    verdicts = Table("check", "A", "B", "changed", title=Text(f"{diff.run_id_a} -> {diff.run_id_b}"))
    for v in diff.verdicts:
        verdicts.add_row(Text(v.check), Text(v.outcome_a or "-"), Text(v.outcome_b or "-"), yes if v.changed else "no")
    metrics = Table("check", "metric", "group", "delta B-A", "95% CI", "p", "sig.")
    for m in diff.metrics:
        c = m.comparison
        metrics.add_row(Text(m.check), Text(m.metric), Text(m.group or "(all)"), f"{c.effect:.3f}",
                        f"[{c.ci_low:.3f}, {c.ci_high:.3f}]", f"{c.p_value:.3f}", yes if m.significant else "no")
    controls = Table("step", "status", "A", "B", "change")
    for k in diff.controls:
        controls.add_row(Text(k.verb), k.status, str(k.count_a), str(k.count_b), k.change)
    for table in (verdicts, metrics, controls):
        out.print(table)
    if html is not None:
        html.write_text(render_diff_html(diff), encoding="utf-8")
        out.print(f"wrote {html}", highlight=False, markup=False)


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


keys_app = typer.Typer(help="The auditor's signing key, which signs evidence bundles.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    key_dir: Annotated[Optional[Path], typer.Option("--dir", help="Key folder (default: $ALGOAUDIT_HOME/keys, else ~/.config/algoaudit/keys).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing key; bundles it signed then verify only with its old public key.")] = False,
) -> None:
    """Make the auditor's Ed25519 key pair (private key 0600) that signs evidence bundles.

    Example: algoaudit keys init --dir ~/.config/algoaudit/keys
    """
    try:
        pair = init_keys(key_dir, force=force)
    except AlgoauditError as exc:
        raise _fail(f"error: {exc}", 2) from None
    out.print(f"private key: {pair.private_key} (owner only)\npublic key:  {pair.public_key}\n"
              f"fingerprint: {pair.fingerprint}", highlight=False)


def _bundle_verify(file: Path | None, public_key: Path | None) -> None:
    if file is None:
        raise _fail("error: give the bundle to check: algoaudit bundle verify FILE", 2)
    try:
        report = verify_bundle(file, public_key=public_key)
    except AlgoauditError as exc:
        raise _fail(f"error: {exc}", 2) from None
    for problem in report.problems:
        console.print(f"FAIL {problem}", style="red", highlight=False, markup=False)
    if not report.ok:
        raise _fail(f"{file}: tampered or damaged; failing members: {', '.join(report.offending)}", 1)
    out.print(f"{file}: ok — {report.members_checked} members intact, run {report.run_id}, signed by key "
              f"{report.key_fingerprint} ({report.key_source})", highlight=False)


@app.command("bundle")
def bundle_command(
    target: Annotated[str, typer.Argument(metavar="RUN|verify", help="The run folder to bundle, or 'verify'.")],
    file: Annotated[Optional[Path], typer.Argument(help="After 'verify': the bundle to check.")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="The bundle to write (default: RUN.bundle.zip beside the run folder).")] = None,
    key_dir: Annotated[Optional[Path], typer.Option(help="Folder of the auditor's key (default: as keys init).")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not (re)write RUN/report/ first.")] = False,
    public_key: Annotated[Optional[Path], typer.Option(help="With verify: the auditor's public key PEM to require.")] = None,
) -> None:
    """Sign a run folder into one evidence bundle (zip), or check one with: bundle verify FILE.

    Examples: algoaudit bundle runs/c3-not-interested-zh-20261122-101500-ab12 --out evidence.zip;
    algoaudit bundle verify evidence.zip --public-key auditor_ed25519.pub.pem
    """
    if target == "verify":
        if out_file or key_dir or no_report:
            raise _fail("error: --out, --key-dir and --no-report are for making a bundle, not verifying one", 2)
        return _bundle_verify(file, public_key)
    if file is not None or public_key is not None:
        raise _fail("error: FILE and --public-key go with verify: algoaudit bundle verify FILE --public-key PEM", 2)
    from audits import write_report

    run = Path(target)
    try:
        # A folder without a run gets make_bundle's error, not the report writer's.
        if not no_report and (run / "run.sqlite").is_file():
            write_report(run)
        written = make_bundle(run, out_file, key_dir=key_dir)
    except (AlgoauditError, FileNotFoundError) as exc:
        raise _fail(f"error: {exc}", 2) from None
    out.print(f"wrote {written}; check it with: algoaudit bundle verify {written}", highlight=False)


CAMPAIGNS = Path(__file__).resolve().parent.parent / "campaigns"


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for everything the demo makes.")] = Path("demo"),
    lang: Annotated[str, typer.Option(help="zh or en: the personas' and the report's language.")] = "zh",
    port: Annotated[int, typer.Option(help="Port for the sandbox on loopback.")] = 8765,
) -> None:
    """The whole product in one go: serve the sandbox with planted violations, run a campaign that
    covers every check, analyse it, write the report and sign an evidence bundle.

    Example: algoaudit demo --out demo/ --lang en
    """
    from audits import analyze, write_report

    if lang not in ("zh", "en"):
        raise _fail(f"error: --lang must be zh or en, not {lang!r}", 2)
    started = time.monotonic()
    faults = CAMPAIGNS / "faults" / "demo.yaml"

    def stamp() -> str:
        return f"[{time.monotonic() - started:5.0f} s]"
    out.print(f"{stamp()} 1/5 serving the sandbox with the violations planted in {faults}", highlight=False)
    try:
        sandbox = start_sandbox_server(out_dir / "sandbox", "--fresh", "--faults", str(faults), port=port)
    except AlgoauditError as exc:
        raise _fail(f"error: {exc}", 1) from None
    try:
        campaign = out_dir / f"demo-{lang}.yaml"
        spec = yaml.safe_load((CAMPAIGNS / f"demo-{lang}.yaml").read_text(encoding="utf-8"))
        spec["target"]["base_url"] = sandbox.url
        if spec.get("personas_dir"):
            spec["personas_dir"] = str(CAMPAIGNS / spec["personas_dir"])
        campaign.parent.mkdir(parents=True, exist_ok=True)
        campaign.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
        out.print(f"{stamp()} 2/5 running {campaign}: puppets in their own Chromium profiles", highlight=False)
        view = ProgressView()
        folder: list[Path] = []
        with Live(view.render(), console=console, refresh_per_second=4) as live:
            view.live = live
            run_dir = _api.run(campaign, out_dir / "runs", progress=view,
                               on_start=lambda f: (folder.append(f), record_custody(f, "demo run")))
    except SpecError as exc:
        raise _fail(f"error: {exc}", 2) from None
    except AlgoauditError as exc:
        where = folder[0] if folder else out_dir
        raise _fail(f"the demo run stopped: {exc}\ncontinue with: algoaudit resume {where}", 1) from None
    finally:
        sandbox.stop()
    out.print(f"{stamp()} 3/5 analysing {run_dir} (embeddings cached in {out_dir / 'runs'})", highlight=False)
    record_custody(run_dir, "demo analyze")
    _print_analysis(analyze(run_dir))
    out.print(f"{stamp()} 4/5 writing the inspection report", highlight=False)
    record_custody(run_dir, "demo report")
    report = write_report(run_dir, lang=lang)
    key_dir = default_key_dir()
    if not (key_dir / PRIVATE_KEY_NAME).exists():
        key_dir = out_dir / "keys"
        if not (key_dir / PRIVATE_KEY_NAME).exists():
            init_keys(key_dir)
        out.print(f"        no auditor key yet: signing with a demo key in {key_dir} (make yours: algoaudit keys init)",
                  highlight=False)
    out.print(f"{stamp()} 5/5 signing the evidence bundle", highlight=False)
    bundle = make_bundle(run_dir, out_dir / "evidence.zip", key_dir=key_dir)
    checked = verify_bundle(bundle)
    out.print(f"\ndone in {time.monotonic() - started:.0f} s. What to look at:", highlight=False)
    for path in report:
        out.print(f"  {path}  the inspection report", highlight=False)
    out.print(f"  {bundle}  the signed evidence ({'verified' if checked.ok else 'NOT verified'}: "
              f"algoaudit bundle verify {bundle})", highlight=False)
    out.print(f"  {run_dir / 'run.sqlite'}  everything the puppets saw and the verdicts (SQLite)", highlight=False)
    out.print(f"  {out_dir / 'sandbox' / 'ground_truth.sqlite'}  what the platform really did, to check the verdicts",
              highlight=False)
    out.print(f"The planted violations are in {faults}: their checks should FAIL and the others PASS.", highlight=False)


@sandbox_app.command("serve")
def sandbox_serve(
    faults: Annotated[Optional[Path], typer.Option(help="YAML fault file (see README: Fault file).")] = None,
    fault: Annotated[list[str], typer.Option(help="NAME=VALUE on top of the file, e.g. cocoon=0.8 or chaos.error_rate=0.05; repeatable.")] = [],  # noqa: B006
    variant: Annotated[list[str], typer.Option(help="A lawful design NAME=VALUE (README: Variants), e.g. feedback_content_only=true; repeatable.")] = [],  # noqa: B006
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
        loaded = load_faults(faults, [*fault, *(f"variants.{v}" for v in variant)])
        if fresh and data_dir.exists():
            shutil.rmtree(data_dir)
        config = SandboxConfig(
            data_dir=data_dir, faults=loaded, seed=seed, corpora=tuple(corpus),
            session_gap_s=session_gap, hot_interval_s=hot_interval,
        )
        console.print(f"sandbox on http://{host}:{port}  faults: {loaded.active() or 'none (compliant)'}"
                      f"  variants: {loaded.variants.active() or 'none (reference design)'}",
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
