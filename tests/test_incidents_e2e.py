"""Incidents end to end: real Chromium patrols the real demo bank, real receivers
on 127.0.0.1 count what arrives. Lean on purpose (a copy of the transfer journey
with a 3 s hard timeout, without the visual/OCR expectations)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import JOURNEYS, copy_flows
from receivers import Answer, ReceiverServer, whsec
from sqlalchemy import create_engine, select

from patrol.store.schema import deliveries, incidents, journey_runs

DEAD = "dead_button=transfer-confirm"
DING_SECRET = "SEC-e2e-ding-secret"


def lean_journey(folder: Path) -> Path:
    d = yaml.safe_load((JOURNEYS / "transfer.yaml").read_text(encoding="utf-8"))
    d["budgets"] = {"step": "3s", "timeout": "3s"}
    for step in d["steps"]:
        for key in ("visual", "text", "not_blank"):
            (step.get("expect") or {}).pop(key, None)
    path = folder / "transfer.yaml"
    copy_flows(folder)
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_config(folder: Path, srv: ReceiverServer, *, confirm: int = 1, formats: bool = True, extra: str = "") -> Path:
    os.environ["PATROL_E2E_WEBHOOK_SECRET"] = os.environ.get("PATROL_E2E_WEBHOOK_SECRET") or whsec()
    receivers = [
        f"  hook: {{format: webhook, url: '{srv.url('/hook')}', secret: '${{secret:PATROL_E2E_WEBHOOK_SECRET}}', "
        "events: [opened, resolved, reminder, flapping, robot_error]}",
    ]
    if formats:
        receivers += [
            f"  ding: {{format: dingtalk, url: '{srv.url('/ding', 'access_token=e2e-token-123456')}', secret: {DING_SECRET}}}",
            f"  wecom: {{format: wecom, url: '{srv.url('/wecom', 'key=e2e-wecom-key-1234')}'}}",
            f"  feishu: {{format: feishu, url: '{srv.url('/feishu')}', secret: e2e-feishu}}",
            f"  slack: {{format: slack, url: '{srv.url('/slack')}', rate_limit: 'off'}}",
            f"  am: {{format: alertmanager_webhook, url: '{srv.url('/am')}'}}",
            f"  pd: {{format: pagerduty, url: '{srv.url('/pd')}', secret: e2e-routing-key-0123456789abcdef}}",
        ]
    text = (
        "state: {url: sqlite:///state.db}\n"
        "detectors: {forbidden_text: false}\n"
        f"incidents: {{confirm: {confirm}, confirm_delay: 0s, delivery: {{backoff: 100ms, flush_timeout: 5s}}}}\n"
        + extra +
        "receivers:\n" + "\n".join(receivers) + "\n"
    )
    path = folder / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def db_rows(folder: Path, table):
    engine = create_engine(f"sqlite:///{folder}/state.db")
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
    finally:
        engine.dispose()


def kinds(srv: ReceiverServer) -> dict[str, list[str]]:
    """What each receiver counted (one per webhook-id / message), as event words."""
    out = {}
    out["hook"] = [r.json["type"] for r in srv.accepted("/hook")]
    out["pd"] = [r.json["event_action"] for r in srv.accepted("/pd")]
    out["am"] = [r.json["status"] for r in srv.accepted("/am")]
    out["ding"] = [r.json["markdown"]["title"].split()[1] for r in srv.accepted("/ding")]
    out["feishu"] = [r.json["card"]["header"]["title"]["content"].split()[1] for r in srv.accepted("/feishu")]
    out["wecom"] = [r.json["msgtype"] for r in srv.accepted("/wecom")]
    out["slack"] = [r.json["blocks"][0]["text"]["text"].split()[1] for r in srv.accepted("/slack")]
    return out


@pytest.mark.faults(DEAD)
def test_transfer_button_fault_pages_once_and_says_once_when_it_is_fixed(faulty_bank, patrol, tmp_path, capsys):
    with ReceiverServer() as srv:
        cfg = write_config(tmp_path, srv)
        journey = str(lean_journey(tmp_path))
        for i in range(3):  # the first run opens it (confirmed by a rerun), the next ones only count
            out = tmp_path / f"run{i}"
            p = patrol("--config", str(cfg), "run", journey, "--base-url", faulty_bank.url, "--output", str(out), output=out)
            assert p.code == 1, p.out + p.err
            attempts = [j["attempt"] for j in p.report["journeys"]]
            assert attempts == ([1, 2] if i == 0 else [1]), attempts  # confirmed once, then known
        (inc,) = db_rows(tmp_path, incidents)
        assert inc["status"] == "open" and inc["count"] == 3 and inc["step_name"] == "confirm transfer"
        assert inc["kind"] == "breakpoint"
        assert kinds(srv) == {
            "hook": ["incident.opened"], "pd": ["trigger"], "am": ["firing"], "ding": ["告警"], "feishu": ["告警"],
            "wecom": ["markdown", "image"], "slack": ["OPENED"],
        }
        opened = srv.accepted("/hook")[0].json["data"]["incident"]
        assert opened["step"]["index"] == 9 and opened["page_url"].startswith(f"{faulty_bank.url}/transfer/confirm")
        shot = Path(opened["evidence"]["screenshot"]["path"])
        assert shot.is_file() and str(shot).startswith(str(tmp_path / "run0"))

        httpx.delete(f"{faulty_bank.url}/__admin/faults").raise_for_status()  # the bank is fixed
        for i in range(2):
            out = tmp_path / f"ok{i}"
            p = patrol("--config", str(cfg), "run", journey, "--base-url", faulty_bank.url, "--output", str(out), output=out)
            assert p.code == 0, p.out + p.err
        assert "resolved #1" in p.out
        assert kinds(srv) == {
            "hook": ["incident.opened", "incident.resolved"], "pd": ["trigger", "resolve"], "am": ["firing", "resolved"],
            "ding": ["告警", "已恢复"], "feishu": ["告警", "已恢复"], "wecom": ["markdown", "image", "markdown"],
            "slack": ["OPENED", "RESOLVED"],
        }
        assert all(d["status"] == "sent" for d in db_rows(tmp_path, deliveries))

        from patrol.cli import main

        capsys.readouterr()
        assert main(["--config", str(cfg), "incidents", "--all"]) == 0
        out = capsys.readouterr().out
        assert "#1" in out and "resolved" in out and "9 confirm transfer" in out


@pytest.mark.faults(DEAD)
def test_a_failure_the_confirmation_rerun_does_not_reproduce_opens_nothing(faulty_bank, patrol, tmp_path, monkeypatch):
    from patrol.runner.runner import Runner

    original = Runner.confirm

    async def heal_then_confirm(self, run, journeys, attempt=2):
        httpx.delete(f"{faulty_bank.url}/__admin/faults").raise_for_status()  # the blip is over
        return await original(self, run, journeys, attempt)

    monkeypatch.setattr(Runner, "confirm", heal_then_confirm)
    with ReceiverServer() as srv:
        cfg = write_config(tmp_path, srv, formats=False)
        p = patrol("--config", str(cfg), "run", str(lean_journey(tmp_path)), "--base-url", faulty_bank.url,
                   "--output", str(tmp_path / "run"), output=tmp_path / "run")
        assert p.code == 0, p.out + p.err  # the verdict is the latest attempt
        assert [(j["attempt"], j["status"]) for j in p.report["journeys"]] == [(1, "failed"), (2, "passed")]
        assert "not confirmed by the rerun" in p.out
        assert db_rows(tmp_path, incidents) == []
        assert [(r["attempt"], r["outcome"]) for r in db_rows(tmp_path, journey_runs)] == [(1, "failing"), (2, "healthy")]
        assert srv.requests == []


@pytest.mark.faults(DEAD)
def test_killed_after_commit_before_send_the_next_flush_delivers_it(faulty_bank, tmp_path):
    from standardwebhooks import Webhook

    with ReceiverServer() as srv:
        release = threading.Event()
        srv.script("/hook", Answer(hold=release))  # the first request hangs: the process is mid-send
        cfg = write_config(tmp_path, srv, confirm=0, formats=False)
        cmd = [sys.executable, "-m", "patrol", "--config", str(cfg), "run", str(lean_journey(tmp_path)),
               "--base-url", faulty_bank.url, "--output", str(tmp_path / "run")]
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            assert srv.wait_for("/hook", 1, timeout=90), "the incident was never sent"
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
        (inc,) = db_rows(tmp_path, incidents)
        (row,) = db_rows(tmp_path, deliveries)
        assert inc["status"] == "open"
        assert row["status"] == "pending" and row["attempts"] == 0 and f":{proc.pid}:" in row["lease_owner"]
        release.set()  # the receiver answers a client that is gone

        r = subprocess.run([sys.executable, "-m", "patrol", "--config", str(cfg), "deliveries", "flush", "--timeout", "10s"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 sent" in r.stdout
        first, second = srv.at("/hook")
        assert first.webhook_id == second.webhook_id  # the receiver can tell it is the same event
        assert len(srv.accepted("/hook")) == 1  # counted once
        assert Webhook(os.environ["PATROL_E2E_WEBHOOK_SECRET"]).verify(second.body, second.headers)["type"] == "incident.opened"
        assert db_rows(tmp_path, deliveries)[0]["status"] == "sent"


def test_robot_failure_is_a_robot_error_event_not_an_incident(bank, tmp_path):
    with ReceiverServer() as srv:
        cfg = write_config(tmp_path, srv, formats=False)
        env = {**os.environ, "PATROL_CHROMIUM": str(tmp_path / "no-such-chromium")}
        cmd = [sys.executable, "-m", "patrol", "--config", str(cfg), "run", str(lean_journey(tmp_path)),
               "--base-url", bank.url, "--output", str(tmp_path / "run")]
        for _ in range(2):
            r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 3, r.stdout + r.stderr
        assert db_rows(tmp_path, incidents) == []
        (got,) = srv.accepted("/hook")  # once per streak, not once per run
        doc = got.json
        assert doc["type"] == "robot.error" and doc["data"]["incident"] is None
        assert doc["data"]["robot"]["journeys"][0]["reason"] == "browser_not_found"
        assert "Patrol" in doc["data"]["summary"] and json.dumps(doc)
