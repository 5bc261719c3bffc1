"""`patrol incidents` (list, show, resolve) on a real state database."""

from __future__ import annotations

import pytest
from receivers import ReceiverServer, confirmed_run, journey, make_run, whsec

from patrol.cli import main
from patrol.config import load_config
from patrol.incidents.service import IncidentService
from patrol.results import BREAKPOINT


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_TEST_CLI_SECRET", whsec())
    with ReceiverServer() as srv:
        cfg = tmp_path / "patrol.yaml"
        cfg.write_text(
            "state: {url: sqlite:///state.db}\n"
            "public_url: https://patrol.example.com/reports\n"
            "receivers:\n"
            f"  oncall: {{format: webhook, url: '{srv.url('/hook')}', secret: '${{secret:PATROL_TEST_CLI_SECRET}}'}}\n",
            encoding="utf-8")
        svc = IncidentService.from_config(load_config(str(cfg)))
        yield svc, str(cfg), srv


def test_list_show_and_resolve_by_hand(setup, capsys, tmp_path):
    svc, cfg, srv = setup
    markup = {"confirm transfer": (BREAKPOINT, "expect_failed", "[bold red]not markup[/] #transfer-success missing")}
    svc.record_run(confirmed_run(markup, run_dir=str(tmp_path / "reports" / "run-a")))
    for _ in range(3):
        svc.record_run(make_run(journey(fail=markup), run_dir=str(tmp_path / "reports" / "run-b")))
    svc.flush_deliveries()

    assert main(["--config", cfg, "incidents"]) == 0
    out = capsys.readouterr().out
    assert "#1" in out and "open" in out and "transfer" in out and "3 confirm transfer" in out
    assert "breakpoint/expect_failed" in out and "4" in out

    assert main(["incidents", "show", "1", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "Incident #1" in out and "OPEN" in out and "[bold red]not markup[/]" in out
    assert "https://patrol.example.com/reports/run-b/transfer/03.png" in out  # evidence of the latest failure
    assert "run-a/index.html" in out and "run-b/index.html" in out  # first and last run reports
    assert "opened" in out and "confirmed by 2 attempts" in out and "seen again ×3" in out
    assert "→ oncall (webhook): sent" in out

    assert main(["--config", cfg, "incidents", "resolve", "1", "--note", "rolled back release 42"]) == 0
    out = capsys.readouterr().out
    assert "resolved incident #1 by hand" in out and "1 sent" in out
    types = [r.json["type"] for r in srv.accepted("/hook")]
    assert types == ["incident.opened", "incident.resolved"]
    assert srv.accepted("/hook")[1].json["data"]["incident"]["resolve_note"] == "rolled back release 42"

    assert main(["--config", cfg, "incidents"]) == 0
    assert "no open incidents" in capsys.readouterr().out
    assert main(["--config", cfg, "incidents", "--all"]) == 0
    assert "resolved" in capsys.readouterr().out
    assert main(["--config", cfg, "incidents", "show", "1"]) == 0
    assert "by hand: rolled back release 42" in capsys.readouterr().out
    assert main(["--config", cfg, "incidents", "resolve", "1"]) == 2
    assert "already resolved" in capsys.readouterr().err
    assert main(["--config", cfg, "incidents", "show", "99"]) == 2
    assert "no incident #99" in capsys.readouterr().err


def test_robot_failures_are_shown_apart(setup, capsys):
    svc, cfg, _ = setup
    svc.record_run(make_run(journey(robot="browser_not_found")))
    assert main(["--config", cfg, "incidents"]) == 0
    out = capsys.readouterr().out
    assert "robot failing on web" in out and "browser_not_found" in out and "no open incidents" in out


def test_switched_off(tmp_path, capsys):
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("state: false\n", encoding="utf-8")
    assert main(["--config", str(cfg), "incidents"]) == 2
    assert "switched off" in capsys.readouterr().err


def test_a_long_evidence_label_never_runs_into_its_value():
    from patrol.cli.incidents import _row

    assert _row("expected_visible", ".recharts-surface") == "  [dim]expected_visible[/] .recharts-surface"
    assert _row("then", "x") == "  [dim]then[/]        x"  # short labels still line up
