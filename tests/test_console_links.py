"""Messages link to the console (issue 12): with ``console_url`` in patrol.yaml every
format (all seven, delivered over real HTTP to a local receiver) carries the incident's
console page and, for a visual finding, its compare view; pictures and the report go
through the console when nothing else serves the run folders; with only ``public_url``
the static links stay as they were. The end-to-end test follows the links of a message
that a real patrol of the demo bank sent, into the real console."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import JOURNEYS, config_with_copied_baselines
from receivers import ReceiverServer, journey, make_run, receiver, service, whsec
from test_console_timeline import sign_in_http

from patrol import yamlpos
from patrol.config import Config, load_config
from patrol.errors import ConfigError
from patrol.results import BREAKPOINT, RENDER

CONSOLE = "https://patrol.example.com"
STATIC = "https://files.example.com/reports"
VISUAL = {"confirm transfer": (RENDER, "visual_diff", "looks different from baseline 'transfer': 4 area(s)", False)}
DEAD = {"confirm transfer": (BREAKPOINT, "expect_failed", "#transfer-success did not become visible within 3.0s")}
FORMATS = {"/hook": "webhook", "/ding": "dingtalk", "/wecom": "wecom", "/feishu": "feishu", "/slack": "slack",
           "/am": "alertmanager_webhook", "/pd": "pagerduty"}


def _public_url(tmp_path: Path, text: str) -> str | None:
    """What patrol.yaml hands to the incident service (the real config path)."""
    path = tmp_path / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return Config(file=str(path), root=tmp_path, located=yamlpos.load(text, str(path))).public_url


def _visual_run(tmp_path: Path, fail: dict):
    run_dir = tmp_path / "reports" / "20261121-031500-beef"
    runs = []
    for attempt in (1, 2):
        j = journey(fail=fail, attempt=attempt)
        if j.steps[2].findings[0].reason != "visual_diff":  # a dead button leaves no diff image (no compare view)
            runs.append(j)
            continue
        j.steps[2].findings[0].evidence["images"] = [
            {"label": "baseline", "path": "transfer/03-baseline.png"}, {"label": "actual", "path": None},
            {"label": "diff", "path": "transfer/03-diff.png"}]
        runs.append(j)
    return make_run(*runs, run_dir=str(run_dir))


def _deliver(tmp_path: Path, srv: ReceiverServer, public_url: str | None, fail: dict):
    off = {"rate_limit": None}
    rs = {
        "hook": receiver("hook", "webhook", srv.url("/hook"), secret=whsec(), **off),
        "ding": receiver("ding", "dingtalk", srv.url("/ding"), language="zh", **off),
        "wecom": receiver("wecom", "wecom", srv.url("/wecom"), language="zh", **off),
        "feishu": receiver("feishu", "feishu", srv.url("/feishu"), language="zh", **off),
        "slack": receiver("slack", "slack", srv.url("/slack"), **off),
        "am": receiver("am", "alertmanager_webhook", srv.url("/am"), **off),
        "pd": receiver("pd", "pagerduty", srv.url("/pd"), secret="R" * 32, **off),
    }
    svc = service(tmp_path, rs, public_url=public_url)
    run = _visual_run(tmp_path, fail)
    svc.record_run(run)
    stats = svc.flush_deliveries()
    assert stats.sent == 7 and stats.dead == 0, stats.errors
    return run


def _texts(srv: ReceiverServer) -> dict[str, str]:
    """The first message each format received, as the text a person (or a bridge) sees."""
    return {name: json.dumps(srv.at(path)[0].json, ensure_ascii=False) for path, name in FORMATS.items()}


def test_every_format_links_to_the_console_page_and_compare_view(tmp_path):
    public_url = _public_url(tmp_path, f"console_url: {CONSOLE}/\n")
    with ReceiverServer() as srv:
        run = _deliver(tmp_path, srv, public_url, VISUAL)
        incident = f"{CONSOLE}/incidents/1"
        compare = f"{CONSOLE}/runs/{run.run_id}/compare?screen={quote('transfer/2/3', safe='')}"
        doc = srv.at("/hook")[0].json["data"]
        assert doc["incident"]["console"] == {"incident": incident, "compare": compare}
        # Nothing else serves the run folders: pictures and the report open in the console (signed in).
        ev = doc["incident"]["evidence"]
        assert ev["screenshot"]["url"] == f"{CONSOLE}/runs/{run.run_id}/files/transfer/03.png"
        assert ev["report"]["url"] == doc["run"]["report"]["url"] == f"{CONSOLE}/runs/{run.run_id}"
        assert [i["url"] for i in ev["images"] if i["label"] == "diff"] == [f"{CONSOLE}/runs/{run.run_id}/files/transfer/03-diff.png"]
        for name, text in _texts(srv).items():
            assert incident in text and compare in text, name
        md = srv.at("/ding")[0].json["markdown"]["text"]
        assert f"[事件页面]({incident})" in md and f"[对比视图]({compare})" in md
        assert f"<{incident}|Incident page>" in json.dumps(srv.at("/slack")[0].json)
        (alert,) = srv.at("/am")[0].json["alerts"]
        assert alert["annotations"]["incident_page"] == incident and alert["annotations"]["compare_view"] == compare
        assert alert["generatorURL"] == incident and srv.at("/am")[0].json["externalURL"] == CONSOLE
        pd = srv.at("/pd")[0].json
        assert {"href": incident, "text": "Incident page"} in pd["links"] and pd["client_url"] == incident


def test_a_finding_that_is_not_visual_links_to_its_page_but_no_compare_view(tmp_path):
    public_url = _public_url(tmp_path, f"console_url: {CONSOLE}\npublic_url: {STATIC}\n")
    with ReceiverServer() as srv:
        run = _deliver(tmp_path, srv, public_url, DEAD)
        doc = srv.at("/hook")[0].json["data"]
        assert doc["incident"]["console"] == {"incident": f"{CONSOLE}/incidents/1", "compare": None}
        # public_url set too: the pictures and the report keep their static links.
        folder = Path(run.run_dir).name
        assert doc["incident"]["evidence"]["screenshot"]["url"] == f"{STATIC}/{folder}/transfer/03.png"
        assert doc["run"]["report"]["url"] == f"{STATIC}/{folder}/index.html"
        for name, text in _texts(srv).items():
            assert f"{CONSOLE}/incidents/1" in text and "/compare?" not in text, name
            assert f"{STATIC}/{folder}/" in text or name in ("alertmanager_webhook",), name


def test_only_public_url_keeps_the_static_links_and_no_console_links(tmp_path):
    public_url = _public_url(tmp_path, f"public_url: {STATIC}\n")
    assert public_url == STATIC and type(public_url) is str  # exactly as before console_url existed
    with ReceiverServer() as srv:
        run = _deliver(tmp_path, srv, public_url, VISUAL)
        doc = srv.at("/hook")[0].json["data"]
        assert doc["incident"]["console"] is None
        folder = Path(run.run_dir).name
        assert doc["incident"]["evidence"]["screenshot"]["url"] == f"{STATIC}/{folder}/transfer/03.png"
        for name, text in _texts(srv).items():
            assert "/incidents/" not in text and "/compare?" not in text and CONSOLE not in text, name
        assert srv.at("/am")[0].json["alerts"][0]["generatorURL"] == f"{STATIC}/{folder}/index.html"


def test_a_bad_console_url_is_a_positioned_config_error(tmp_path):
    path = tmp_path / "patrol.yaml"
    path.write_text("public_url: https://x.example.com\nconsole_url: patrol.example.com\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(path))
    assert "patrol.yaml:2:14:" in str(e.value) and "console" in str(e.value)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_links_of_a_real_message_open_the_incident_and_its_compare_view_in_the_console(tmp_path, monkeypatch):
    """A real patrol of the demo bank with a layout shift sends its message; the links
    in it, followed as a signed-in user, are the incident page and the compare view."""
    import uvicorn

    from patrol.cli import main
    from patrol.cli.serve import build_app
    from patrol.demo.server import DemoBank

    port = _free_port()
    console = f"http://127.0.0.1:{port}"
    with ReceiverServer() as srv, DemoBank(port=0, faults=["layout_shift"]) as bank:
        cfg = str(config_with_copied_baselines(
            tmp_path, f"\nincidents:\n  confirm: 0\nconsole_url: {console}\nstate: {{url: 'sqlite:///{tmp_path}/state.db'}}\n"
            f"receivers:\n  chat: {{format: slack, url: '{srv.url('/slack')}'}}\n"))
        code = main(["--config", cfg, "run", str(JOURNEYS / "login.yaml"), "--base-url", bank.url, "--output", str(tmp_path / "run")])
        assert code == 1
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        assert main(["--config", cfg, "users", "add", "qa", "--role", "approver", "--password-stdin"]) == 0
        msg = srv.at("/slack")[0]  # the first incident: sign in, a visual_diff
        links = [part.split("|")[0] for part in json.dumps(msg.json).split("<")[1:] if part.startswith(console)]
        # page, compare, screenshot, baseline, diff (and the trace, when kept), the run's page
        assert len(links) >= 6 and any(u.endswith("-diff.png") for u in links) and "/runs/" in links[-1], links
    server = uvicorn.Server(uvicorn.Config(build_app(cfg), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        client = httpx.Client(follow_redirects=False)
        r = sign_in_http(client, "qa", base=console)
        assert r.status_code == 303, r.text
        client.headers["cookie"] = r.headers["set-cookie"].split(";")[0]
        incident = next(u for u in links if "/incidents/" in u)
        compare = next(u for u in links if "/compare?" in u)
        page = client.get(incident)
        assert page.status_code == 200 and "visual_diff" in page.text
        view = client.get(compare)
        assert view.status_code == 200 and "Compare: login" in view.text and 'data-label="diff"' in view.text
        for u in links:  # every console link of the message opens (pictures and report included)
            assert client.get(u).status_code == 200, u
    finally:
        server.should_exit = True
        thread.join(5)
