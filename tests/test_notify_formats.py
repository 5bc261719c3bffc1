"""Every message format, delivered over real HTTP to a local receiver that checks
signatures the way the real services do (Standard Webhooks through its reference
library; DingTalk and Feishu recomputed from their documented algorithms)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from receivers import ReceiverServer, confirmed_run, journey, make_run, receiver, service, whsec

from patrol import yamlpos
from patrol.config import Config
from patrol.errors import ConfigError
from patrol.incidents import documents as D
from patrol.notify.formats import FORMATS
from patrol.notify.formats.wecom import MAX_IMAGE, image_bytes
from patrol.notify.receivers import load_receivers, mask_url
from patrol.results import BREAKPOINT

HOSTILE = ("<at id=all></at> <!channel> <@everyone> **pwned** [click](http://evil.example/x) `code`\n"
           "# big heading\n> quote <font color=red>x</font> & ~~strike~~ _it_")
FAILING = {
    "confirm transfer": (
        BREAKPOINT, "request_failed", "POST http://bank.test/api/transfer HTTP 500 — " + HOSTILE,
    )
}
DING_SECRET = "SEC0123456789abcdef-ding"
FEISHU_SECRET = "feishu-signing-secret"
PD_KEY = "R" * 32


def _png(path: Path, w=64, h=40, noise=False) -> bytes:
    import cv2
    import numpy as np

    img = (np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8) if noise
           else np.full((h, w, 3), 200, dtype=np.uint8))
    ok, buf = cv2.imencode(".png", img)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


def _rich_run(tmp_path: Path):
    """A confirmed failure with a screenshot file, failed requests, OCR text and a diff."""
    run_dir = tmp_path / "reports" / "20261121-031500-beef"
    shot = _png(run_dir / "transfer" / "03.png")
    runs = []
    for attempt in (1, 2):
        j = journey(fail=FAILING, attempt=attempt)
        f = j.steps[2].findings[0]
        f.evidence.update({
            "requests": [{"method": "POST", "url": "http://bank.test/api/transfer", "status": 500},
                         {"method": "GET", "url": "http://bank.test/api/account", "error": "net::ERR_FAILED"}],
            "ocr_text": "操作失败，请稍后重试 " + HOSTILE,
            "images": [{"label": "baseline", "path": "transfer/03-baseline.png"}, {"label": "actual", "path": None},
                       {"label": "diff", "path": "transfer/03-diff.png"}],
        })
        runs.append(j)
    return make_run(*runs, run_dir=str(run_dir)), shot


def _receivers(srv: ReceiverServer, secret: str) -> dict:
    off = {"rate_limit": None}
    return {
        "hook": receiver("hook", "webhook", srv.url("/hook"), secret=secret, **off),
        "ding": receiver("ding", "dingtalk", srv.url("/ding", "access_token=tok-123456789"), secret=DING_SECRET, language="zh", **off),
        "wecom": receiver("wecom", "wecom", srv.url("/wecom", "key=wecom-key-123456"), language="zh", **off),
        "feishu": receiver("feishu", "feishu", srv.url("/feishu"), secret=FEISHU_SECRET, language="zh", **off),
        "slack": receiver("slack", "slack", srv.url("/slack"), **off),
        "am": receiver("am", "alertmanager_webhook", srv.url("/am"), **off),
        "pd": receiver("pd", "pagerduty", srv.url("/pd"), secret=PD_KEY, **off),
    }


@pytest.fixture
def delivered(tmp_path):
    """One opened and one resolved incident sent to every format."""
    with ReceiverServer() as srv:
        secret = whsec()
        svc = service(tmp_path, _receivers(srv, secret), public_url=None)
        run, shot = _rich_run(tmp_path)
        svc.record_run(run)
        stats = svc.flush_deliveries()
        assert stats.sent == 7 and stats.dead == 0, stats.errors
        svc.record_run(confirmed_run())
        svc.record_run(confirmed_run())
        stats = svc.flush_deliveries()
        assert stats.sent == 7, stats.errors
        yield srv, secret, shot, run


def test_webhook_is_signed_per_standard_webhooks_and_verified_by_the_reference_library(delivered):
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    srv, secret, _, run = delivered
    opened, resolved = srv.at("/hook")
    for req in (opened, resolved):
        payload = Webhook(secret).verify(req.body, req.headers)  # raises on a bad signature
        assert payload["id"] == req.headers["webhook-id"]
        assert req.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook(whsec()).verify(opened.body, opened.headers)
    doc = opened.json
    assert doc["type"] == D.OPENED and doc["schema_version"] == 1
    inc = doc["data"]["incident"]
    assert inc["journey"]["name"] == "transfer" and inc["step"] == {
        "index": 3, "name": "confirm transfer", "key": "confirm transfer", "action": "click"}
    assert inc["page_url"] == "http://bank.test/3" and inc["kind"] == "breakpoint" and inc["reason"] == "request_failed"
    assert inc["evidence"]["screenshot"]["path"] == f"{run.run_dir}/transfer/03.png"
    assert inc["evidence"]["screenshot"]["url"] is None  # no public_url: a path
    assert [i["label"] for i in inc["evidence"]["images"]] == ["baseline", "actual", "diff"]
    assert inc["evidence"]["failed_requests"][0] == {"method": "POST", "url": "http://bank.test/api/transfer", "status": 500, "error": None}
    assert "操作失败" in inc["evidence"]["ocr_text"]
    assert resolved.json["type"] == D.RESOLVED


def test_dingtalk_markdown_signed_as_documented(delivered):
    srv, *_ = delivered
    for req in srv.at("/ding"):
        ts = req.query["timestamp"][0]
        string_to_sign = f"{ts}\n{DING_SECRET}".encode()
        expected = base64.b64encode(hmac.new(DING_SECRET.encode(), string_to_sign, hashlib.sha256).digest()).decode()
        assert req.query["sign"][0] == expected  # parse_qs already URL-decoded it once
        assert req.query["access_token"] == ["tok-123456789"]
        assert abs(int(ts) / 1000 - req.at) < 60  # milliseconds
        body = req.json
        assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("Patrol")
    text = srv.at("/ding")[0].json["markdown"]["text"]
    for words in ("transfer", "第 3 步", "confirm transfer", "http://bank.test/3", "breakpoint", "request_failed",
                  "POST http://bank.test/api/transfer → HTTP 500", "操作失败", "首次发现", "最近发现", "1 次巡检",
                  "/transfer/03.png", "/transfer/03-diff.png", "index.html"):
        assert words in text, words
    assert "已恢复" in srv.at("/ding")[1].json["markdown"]["title"]


def test_feishu_card_signed_as_documented(delivered):
    srv, *_ = delivered
    for req in srv.at("/feishu"):
        body = req.json
        ts = body["timestamp"]
        expected = base64.b64encode(hmac.new(f"{ts}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
        assert body["sign"] == expected
        assert abs(int(ts) - req.at) < 60  # seconds
        assert body["msg_type"] == "interactive"
    card = srv.at("/feishu")[0].json["card"]
    assert card["header"]["template"] == "red" and "transfer" in card["header"]["title"]["content"]
    assert "confirm transfer" in card["elements"][0]["content"]
    assert srv.at("/feishu")[1].json["card"]["header"]["template"] == "green"


def test_wecom_markdown_then_the_screenshot_as_image(delivered):
    srv, _, shot, _ = delivered
    markdown, image, resolved = srv.at("/wecom")
    assert markdown.json["msgtype"] == "markdown" and len(markdown.json["markdown"]["content"].encode()) <= 4096
    assert "confirm transfer" in markdown.json["markdown"]["content"]
    img = image.json["image"]
    assert base64.b64decode(img["base64"]) == shot and img["md5"] == hashlib.md5(shot).hexdigest()
    assert resolved.json["msgtype"] == "markdown"  # no picture of a broken screen when it is fixed


def test_wecom_image_is_kept_under_2mb(tmp_path):
    big = tmp_path / "big.png"
    data = _png(big, 1400, 1000, noise=True)
    assert len(data) > MAX_IMAGE
    out = image_bytes(str(big))
    assert out is not None and len(out) < MAX_IMAGE and out[:2] == b"\xff\xd8"  # re-encoded as JPEG
    assert image_bytes(str(tmp_path / "missing.png")) is None


def test_slack_blocks(delivered):
    srv, *_ = delivered
    body = srv.at("/slack")[0].json
    assert body["text"] and body["blocks"][0]["type"] == "header"
    fields = [f["text"] for b in body["blocks"] if b["type"] == "section" for f in b.get("fields", [])]
    assert any(f.startswith("*Step*\n3 “confirm transfer”") for f in fields)
    assert any(f.startswith("*Count*\n1 run") for f in fields)


def test_alertmanager_v4_body(delivered):
    srv, *_ = delivered
    firing, resolved = (r.json for r in srv.at("/am"))
    assert firing["version"] == "4" and firing["status"] == "firing" and firing["receiver"] == "am"
    (alert,) = firing["alerts"]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert alert["labels"]["alertname"] == "PatrolIncident" and alert["labels"]["journey"] == "transfer"
    assert alert["labels"]["step"] == "confirm transfer" and alert["labels"]["severity"] == "critical"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["startsAt"].endswith("Z")
    assert "confirm transfer" in alert["annotations"]["summary"] and alert["annotations"]["count"] == "1"
    assert all(k.replace("_", "").isalnum() and k.isascii() for k in alert["annotations"])
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_pagerduty_events_v2(delivered):
    srv, secret, _, _ = delivered
    trigger, resolve = (r.json for r in srv.at("/pd"))
    hook = srv.at("/hook")[0].json
    assert trigger["routing_key"] == PD_KEY and trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == hook["data"]["incident"]["fingerprint"]
    p = trigger["payload"]
    assert p["severity"] == "critical" and p["source"] == "bank.test" and len(p["summary"]) <= 1024
    assert "confirm transfer" in p["summary"] and p["custom_details"]["incident_id"] == 1
    assert resolve == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_untrusted_page_text_is_escaped_for_each_format(delivered):
    srv, *_ = delivered
    texts = {
        "ding": srv.at("/ding")[0].json["markdown"]["text"],
        "wecom": srv.at("/wecom")[0].json["markdown"]["content"],
        "feishu": srv.at("/feishu")[0].json["card"]["elements"][0]["content"],
    }
    for name, text in texts.items():
        assert "<at" not in text and "<font color=red>" not in text and "<!channel>" not in text, name
        assert "&lt;at id=all&gt;" in text, name
        assert "[click](" not in text and "\\[click\\]" in text, name
        assert "**pwned**" not in text and "\\*\\*pwned\\*\\*" in text, name
        assert "\n# big heading" not in text and "\n> quote" not in text, name  # no new blocks
    slack = json.dumps(srv.at("/slack")[0].json, ensure_ascii=False)
    assert "<!channel>" not in slack and "<@everyone>" not in slack and "&lt;!channel&gt;" in slack
    assert "<http://evil" not in slack
    # JSON formats carry the text as data (JSON-encoded), unchanged but on one line in human fields.
    assert HOSTILE.split("\n")[0] in srv.at("/hook")[0].json["data"]["incident"]["message"]


def test_secrets_never_reach_a_payload(tmp_path):
    from patrol.secrets import MASKER

    MASKER.add("s3cr3t-on-screen")
    leak = {"confirm transfer": (BREAKPOINT, "expect_failed", "page shows s3cr3t-on-screen")}
    with ReceiverServer() as srv:
        recv = _receivers(srv, whsec())
        for r in recv.values():
            if r.secret:
                MASKER.add(r.secret)
        svc = service(tmp_path, recv)
        svc.record_run(confirmed_run(leak))
        assert svc.flush_deliveries().sent == 7
        for req in srv.requests:
            assert b"s3cr3t-on-screen" not in req.body
            assert DING_SECRET.encode() not in req.body and FEISHU_SECRET.encode() not in req.body
        pd = srv.at("/pd")[0].json
        assert pd["routing_key"] == PD_KEY and PD_KEY not in json.dumps(pd["payload"])


# -- configuration -------------------------------------------------------------------------------------
def _config(tmp_path, text: str) -> Config:
    path = tmp_path / "patrol.yaml"
    path.write_text(text, encoding="utf-8")
    return Config(file=str(path), root=tmp_path, located=yamlpos.load(text, str(path)))


@pytest.mark.parametrize("yaml_text, where, words", [
    ("receivers:\n  a:\n    format: telegram\n    url: http://x\n", "3:13", "unknown format 'telegram'"),
    ("receivers:\n  a:\n    format: webhook\n    secret: whsec_AAAAAAAAAAAAAAAAAAAAAAAA\n", "2:3", "url is required"),
    ("receivers:\n  a:\n    format: webhook\n    url: http://x\n", "2:3", "secret is required"),
    ("receivers:\n  a:\n    format: webhook\n    url: http://x\n    secret: not-base64!\n", "5:13", "whsec_"),
    ("receivers:\n  a:\n    format: dingtalk\n    url: http://x\n    rate_limit: fast\n", "5:17", "20/min"),
    ("receivers:\n  a:\n    format: slack\n    url: http://x\n    events: [opened, paged]\n", "5:22", "unknown event 'paged'"),
    ("receivers:\n  a:\n    format: slack\n    url: ftp://x\n", "4:10", "http"),
    ("receivers:\n  a:\n    format: wecom\n    url: http://x\n    secret: abc\n", "5:13", "takes no secret"),
    ("receivers:\n  a:\n    format: feishu\n    url: http://x\n    secret: ${secret:PATROL_TEST_UNSET_9}\n", "5:13",
     "PATROL_TEST_UNSET_9 is not set"),
    ("receivers:\n  a:\n    format: slack\n    urls: http://x\n", "4:5", "unknown key"),
    ("receivers:\n  - format: slack\n", "2:3", "mapping of receiver name"),
    ("incidents:\n  confirm: -1\n", "2:12", "whole number"),
    ("incidents:\n  remind_every: 10\n", "2:17", "duration"),
    ("incidents:\n  flapping: {start: 5%, stop: 20%}\n", "2:13", "must not be above start"),
    ("incidents:\n  timezone: Mars/Olympus\n", "2:13", "unknown time zone"),
    ("state:\n  url: 42\n", "2:8", "SQLAlchemy URL"),
    ("public_url: reports.example.com\n", "1:13", "http"),
])
def test_bad_config_is_a_positioned_config_error(tmp_path, yaml_text, where, words):
    from patrol.incidents.service import IncidentService

    config = _config(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as e:
        IncidentService.from_config(config)
    assert f"patrol.yaml:{where}:" in str(e.value) and words in str(e.value)


def test_receiver_defaults_and_masked_urls(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_TEST_DING_TOKEN", "d1ngt0k3n-abcdef-123456")
    config = _config(tmp_path, (
        "receivers:\n"
        "  ding:\n    format: dingtalk\n    url: https://oapi.dingtalk.com/robot/send?access_token=${secret:PATROL_TEST_DING_TOKEN}\n"
        "  pd:\n    format: pagerduty\n    secret: abcdefabcdefabcdefabcdefabcdef12\n"
        "  slack:\n    format: slack\n    url: https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX\n"
    ))
    rs = load_receivers(config)
    assert rs["ding"].url.endswith("d1ngt0k3n-abcdef-123456") and rs["ding"].rate_limit == (20, 60.0)
    assert rs["ding"].language == "zh" and rs["slack"].language == "en"
    assert rs["pd"].url == "https://events.pagerduty.com/v2/enqueue"
    assert rs["ding"].events == {"opened", "resolved", "reminder", "flapping"}
    assert "d1ngt0k3n" not in rs["ding"].display_url and "access_token=" in rs["ding"].display_url
    assert "XXXXXXXX" not in rs["slack"].display_url and "T000" not in rs["slack"].display_url
    assert mask_url("https://u:pw@example.com/hook?key=abc") == "https://******@example.com/hook?key=******"
    assert not FORMATS["pagerduty"].handles(D.REMINDER) and FORMATS["webhook"].handles(D.REMINDER)


# -- a grouped incident (issue 27): one cause, several journeys and steps -------------------------
def _slow_backend_run(run_dir: Path):
    """Three journeys whose calls of one API answer in 8 s: one incident about the backend."""
    from patrol.causes import Cause, Problem
    from patrol.results import STALL, Finding

    def slow(path: str) -> Finding:
        url = f"http://bank.test{path}"
        return Finding(kind=STALL, reason="over_budget", message=f"took 8.2s, over its budget of 3.00s: GET {path} 8.0 s",
                       evidence={"slow_requests": [{"method": "GET", "url": url, "duration_ms": 8000.0, "type": "fetch"}]},
                       cause=Cause.of_request("GET", url, Problem.SLOW, resource_type="fetch", ms=8000.0))

    journeys = []
    for name, steps in (("login", {"sign in": "/api/login"}),
                        ("transfer", {"sign in": "/api/login", "confirm transfer": "/api/transfer"}),
                        ("buy_fund", {"sign in": "/api/account", "buy": "/api/funds/880002/buy"})):
        j = journey(name, steps=tuple(steps))
        for st in j.steps:
            st.status, st.findings = "failed", [slow(steps[st.name])]
            _png(run_dir / st.screenshot)
        j.status = "failed"
        journeys.append(j)
    return make_run(*journeys, run_dir=str(run_dir))


def test_every_format_shows_the_grouped_incident_with_its_reach_screenshot_and_console_links(tmp_path):
    from patrol.config.sections import PublicUrl

    run_dir = tmp_path / "reports" / "20261206-030000-cafe"
    with ReceiverServer() as srv:
        receivers = {k: r for k, r in _receivers(srv, whsec()).items() if k != "am"}  # Alertmanager: its own tests
        svc = service(tmp_path, receivers, public_url=PublicUrl("https://patrol.example/runs", "https://patrol.example"),
                      confirm=0)
        svc.record_run(_slow_backend_run(run_dir))
        stats = svc.flush_deliveries()
        assert stats.dead == 0 and not stats.pending, stats.errors
        shot = "https://patrol.example/runs/20261206-030000-cafe/login/01.png"
        line = "first-party API slow: 4 endpoints under /api answered in 8.0 s; 3 of 3 journeys, 5 steps"

        inc = srv.at("/hook")[0].json["data"]["incident"]
        assert inc["message"] == line and inc["scope"] == {"journeys": 3, "steps": 5}
        assert inc["cause"]["kind"] == "request" and inc["cause"]["endpoint"] == "/api"
        assert [(a["journey"], [s["name"] for s in a["steps"]]) for a in inc["affected"]] == [
            ("login", ["sign in"]), ("transfer", ["sign in", "confirm transfer"]), ("buy_fund", ["sign in", "buy"])]
        assert inc["affected"][1]["steps"][1]["screenshot"]["url"].endswith("/transfer/02.png")
        assert inc["console"]["incident"] == "https://patrol.example/incidents/1"

        def text_of(path: str) -> str:
            return json.dumps(srv.at(path)[0].json, ensure_ascii=False)

        for path in ("/ding", "/wecom", "/feishu", "/slack", "/pd"):  # (markdown: DingTalk's, WeCom's and Feishu's)
            body = text_of(path)
            assert "first-party API slow" in body, path
            assert "login" in body and "transfer" in body and "buy_fund" in body, path  # every journey it reaches
            assert shot in body, path  # the first affected step's picture
            assert "https://patrol.example/incidents/1" in body, path  # where on-call acknowledges
        for path in ("/ding", "/wecom", "/feishu"):
            body = text_of(path)
            assert "3 个旅程，5 个步骤" in body or "3 journey(s), 5 step(s)" in body, path
        slack = srv.at("/slack")[0].json
        assert slack["blocks"][0]["text"]["text"].startswith("Patrol OPENED #1 · first-party API slow")
        fields = [f["text"] for b in slack["blocks"] if b["type"] == "section" for f in b.get("fields", [])]
        assert any(f.startswith("*Affected*\n3 journey(s), 5 step(s): login: sign in; transfer: sign in, confirm transfer")
                   for f in fields)
        assert any(f.startswith("*First affected step*\nlogin") for f in fields)
        pd = srv.at("/pd")[0].json
        details = pd["payload"]["custom_details"]
        assert (details["cause_kind"], details["host"], details["endpoint"]) == ("request", "bank.test", "/api")
        assert pd["payload"]["component"] == "/api" and pd["images"][0]["src"] == shot
        assert [a["journey"] for a in details["affected"]] == ["login", "transfer", "buy_fund"]
