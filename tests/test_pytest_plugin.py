"""The ``algoaudit`` pytest plugin, tested the way its users meet it: pytest inside pytest (pytester),
with the plugin loaded from its entry point, against a real sandbox and real puppets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.pytest_plugin import Verdicts, _prepared
from personas import SpecError

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
FIXTURES = ("algoaudit_sandbox", "algoaudit_run", "algoaudit_verdicts", "algoaudit_runs_dir",
            "algoaudit_embedding_cache")


def test_the_plugin_loads_from_its_entry_point_and_documents_its_fixtures(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    assert result.ret == 0
    listing = result.stdout.str()
    assert "from harness.pytest_plugin" in listing or "harness/pytest_plugin.py" in listing
    for name in FIXTURES:
        assert name in listing
    assert "Factory: ``algoaudit_sandbox(" in listing


def test_the_sandbox_factory_passes_its_flags_and_stops_what_it_started(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import sqlite3
        import httpx

        STARTED = []

        def test_serves_with_the_fault(algoaudit_sandbox):
            server = algoaudit_sandbox("--fault", "not_interested_ignored=1.0", "--hot-interval", "1000000000")
            assert httpx.get(server.url + "/healthz", trust_env=False).status_code == 200
            with sqlite3.connect(server.truth_path) as db:
                faults = db.execute("SELECT value FROM meta WHERE key = 'faults'").fetchone()[0]
            assert "not_interested_ignored" in faults
            STARTED.append(server)

        def test_it_was_stopped_after_the_test():
            assert STARTED[0].process.poll() is not None
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_bad_campaign_fails_the_test_naming_the_field(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from personas import SpecError

        BAD = '''
        name: bad
        target: {driver: sandbox, base_url: "{base_url}"}
        groups: [{name: g, persona: nobody-at-all, replicas: 2}]
        rounds: [{name: r, steps: [read_feed]}]
        '''

        def test_bad_persona(algoaudit_run):
            with pytest.raises(SpecError, match="nobody-at-all"):
                algoaudit_run(BAD, base_url="http://127.0.0.1:9")

        def test_placeholder_needs_a_url(algoaudit_run):
            with pytest.raises(SpecError, match="base_url"):
                algoaudit_run(BAD)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_base_url_and_personas_dir_are_made_to_work_from_anywhere(tmp_path: Path) -> None:
    origin = tmp_path / "audits" / "c.yaml"
    text = "name: c\ntarget: {driver: sandbox, base_url: 'http://old'}\npersonas_dir: mine\n"
    data = yaml.safe_load(_prepared(text, origin, "http://127.0.0.1:8765"))
    assert data["target"]["base_url"] == "http://127.0.0.1:8765"
    assert data["personas_dir"] == str(tmp_path / "audits" / "mine")
    # Nothing to change: the file is used as written, comments and all.
    assert _prepared("# kept\nname: c\n", None, None) == "# kept\nname: c\n"
    assert "http://h:1" in _prepared('target: {base_url: "{base_url}"}\n', None, "http://h:1")
    with pytest.raises(SpecError):
        _prepared('target: {base_url: "{base_url}"}\n', None, None)


def test_a_check_without_a_verdict_says_why() -> None:
    verdicts = Verdicts({}, {"C5": "C5 has no analysis in this version of algoaudit"})
    with pytest.raises(KeyError, match="C5 has no analysis"):
        verdicts["C5"]
    with pytest.raises(KeyError, match="not analysed"):
        verdicts["C9"]


@pytest.mark.e2e
def test_the_documented_regression_test_catches_an_ignored_button(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_regression_audit=(REPO / "examples" / "test_regression_audit.py").read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "ignored_not_interested_is_caught")
    result.assert_outcomes(passed=1, deselected=1)
