"""One incident per problem (issue 27): a typed cause on every finding, symptoms folded
into it, and incidents grouped by cause across steps, journeys and runs.

The unit part builds findings by hand (the lifecycle with an injected clock); the end
to end part patrols the real demo bank with real Chromium: the five shipped web
journeys, made lean (no visual, OCR or blank-screen expectations) and strict (a 1 s
step budget), so a slowed API is seen in every one of them in a short run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import JOURNEYS, copy_flows
from real_apps.apps import RealApp, jupyter, node_red  # noqa: F401  (the fixtures)
from sqlalchemy import create_engine, select

from patrol.causes import Cause, CauseKind, Problem, fold, url_template
from patrol.config.incidents import IncidentSettings
from patrol.core.vocabulary import Kind, Reason
from patrol.incidents import documents as D
from patrol.incidents.service import IncidentService
from patrol.notify.text import message, summary_line
from patrol.results import Finding, JourneyResult, RunResult, StepResult
from patrol.store import open_store
from patrol.store.schema import incidents

WEB_JOURNEYS = ("bind_card", "buy_fund", "claim_benefit", "login", "transfer")


# -- causes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:8800/api/transfer/12345", ("127.0.0.1:8800", "/api/transfer/{id}")),
    ("https://shop.example.com/static/js/index.3f2a9c1b.js", ("shop.example.com", "/static/js/index.{hash}.js")),
    ("https://shop.example.com/assets/main-BkX7a9Qz.js", ("shop.example.com", "/assets/main-{hash}.js")),
    ("https://shop.example.com/static/js/2.a1b2c3d4.chunk.js", ("shop.example.com", "/static/js/2.{hash}.chunk.js")),
    ("http://h/api/cards/card-0128-19/photo", ("h", "/api/cards/{id}/photo")),
    ("http://h/api/funds/000001/buy?amount=100", ("h", "/api/funds/{id}/buy")),
    ("http://h/api/benefits/b102/claim", ("h", "/api/benefits/{id}/claim")),
    ("http://h/u/550e8400-e29b-41d4-a716-446655440000", ("h", "/u/{id}")),
    ("http://h/static/app.css", ("h", "/static/app.css")),
    ("http://h/api/v2/orders", ("h", "/api/v2/orders")),
])
def test_url_templates_name_the_endpoint_not_its_values(url, expected):
    assert url_template(url) == expected


def test_slow_calls_of_one_api_are_one_backend_cause_and_files_and_client_errors_are_their_own():
    a = Cause.of_request("GET", "http://h:1/api/account", Problem.SLOW, resource_type="fetch", ms=8000)
    b = Cause.of_request("POST", "http://h:1/api/transfer/77", Problem.SLOW, resource_type="xhr", ms=8100)
    assert a.group_key() == b.group_key() == "backend slow h:1/api"
    failing = Cause.of_request("POST", "http://h:1/api/transfer/77", Problem.FAILED, resource_type="fetch", status=500)
    assert failing.group_key() == "backend failed h:1/api"  # failing and slow are two problems
    not_found = Cause.of_request("GET", "http://h:1/api/cards/9", Problem.ERROR, resource_type="fetch", status=404)
    assert not_found.group_key() == "request error GET h:1/api/cards/{id} 404"
    script = Cause.of_request("GET", "http://h:1/static/js/index.3f2a9c1b.js", Problem.FAILED, resource_type="script", status=500)
    assert script.kind == CauseKind.RESOURCE and script.group_key() == "resource failed h:1/static/js/index.{hash}.js"
    assert script.describe() == "the script /static/js/index.{hash}.js answered HTTP 500"
    assert Cause.step().group_key() == ""
    # Stored and read back (report.json, the state database), a cause is the same cause.
    f = Finding(kind=Kind.STALL, reason=Reason.OVER_BUDGET, message="slow", cause=a.to_dict())  # type: ignore[arg-type]
    assert f.cause == a and json.loads(json.dumps(f.to_dict()))["cause"]["template"] == "/api/account"


def test_page_errors_group_by_message_and_source_whatever_the_numbers_in_them():
    a = Cause.of_page_error("TypeError: cannot read 'x' of undefined (order 1234)", "http://h/static/app.3f2a9c1b.js:12:5")
    b = Cause.of_page_error("TypeError: cannot read 'x' of undefined (order 99)", "http://h/static/app.3f2a9c1b.js:40:1")
    assert a.group_key() == b.group_key() and a.source == "/static/app.{hash}.js"


def test_symptoms_fold_into_the_cause_that_explains_them():
    font = Finding(kind=Kind.RENDER, reason=Reason.RESOURCE_FAILED, message="the font /f.woff2 did not load",
                   cause=Cause.of_request("GET", "http://h/f.woff2", Problem.FAILED, resource_type="font", status=404))
    diff = Finding(kind=Kind.RENDER, reason=Reason.VISUAL_DIFF, message="3.2% of the screen changed",
                   evidence={"images": [{"label": "diff", "path": "d.png"}], "diff_ratio": 0.032})
    (one,) = fold([font, diff])
    assert one is font and one.evidence["symptoms"][0]["reason"] == "visual_diff"
    assert one.evidence["images"] == [{"label": "diff", "path": "d.png"}] and not one.fatal
    # A slow call explains the wait, but not a broken flow it did not hold up.
    slow = Finding(kind=Kind.STALL, reason=Reason.OVER_BUDGET, message="took 9 s",
                   cause=Cause.of_request("GET", "http://h/api/a", Problem.SLOW, resource_type="fetch", ms=8000))
    dead = Finding(kind=Kind.BREAKPOINT, reason=Reason.EXPECT_FAILED, message="the url stayed", fatal=True)
    assert fold([slow, dead]) == [slow, dead]
    slow.evidence["still_loading"] = True  # ...unless it was still coming when the step gave up
    assert fold([slow, dead]) == [slow] and slow.fatal and slow.kind == Kind.STALL


def test_a_later_screen_changed_by_a_file_that_failed_earlier_takes_its_cause():
    font = Cause.of_request("GET", "http://h/f.woff2", Problem.FAILED, resource_type="font", status=404)
    diff = Finding(kind=Kind.RENDER, reason=Reason.VISUAL_DIFF, message="0.07% changed")
    dead = Finding(kind=Kind.BREAKPOINT, reason=Reason.EXPECT_FAILED, message="stayed", fatal=True)
    assert fold([diff, dead], (font,)) == [diff, dead]
    assert diff.cause == font and "earlier in the journey" in diff.evidence["explained_by"]
    assert dead.cause.is_step  # a broken flow is not a font's doing


@pytest.mark.parametrize(("cause", "expected"), [
    ({"kind": "request", "problem": "failed", "resource_type": "fetch", "key": "backend failed h/api", "endpoint": "/api",
      "endpoints": ["POST /api/transfer", "GET /api/cards"], "statuses": [500, 502]},
     "first-party API failing: 2 endpoints under /api answered HTTP 500, HTTP 502"),
    ({"kind": "request", "problem": "failed", "resource_type": "xhr", "key": "backend failed h/api", "endpoint": "/api",
      "endpoints": ["POST /api/transfer"], "statuses": [500]}, "first-party API failing: POST /api/transfer answered HTTP 500"),
    ({"kind": "app_message", "problem": "shown", "text": "系统繁忙", "key": "k"}, "the screen shows '系统繁忙'"),
    ({"kind": "page_error", "problem": "shown", "text": "TypeError: x", "source": "/static/app.js", "key": "k"},
     "page error: TypeError: x (/static/app.js)"),
    ({"kind": "host", "problem": "failed", "host": "cdn.example", "text": "net::ERR_NAME_NOT_RESOLVED", "key": "k"},
     "host cdn.example unreachable (net::ERR_NAME_NOT_RESOLVED)"),
    ({"kind": "websocket", "problem": "closed", "host": "h", "template": "/live/quotes", "text": "closed 1006", "key": "k"},
     "WebSocket /live/quotes: closed 1006"),
    ({"kind": "step", "key": ""}, ""),
])
def test_every_kind_of_cause_says_what_is_wrong_in_one_line(cause, expected):
    from patrol.incidents.grouping import title

    assert title(cause) == expected


def test_group_by_and_its_window_are_read_from_patrol_yaml_and_a_wrong_value_is_positioned(tmp_path):
    from patrol.config import load_config
    from patrol.errors import ConfigError

    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("incidents: {group_by: step, group_window: 30m}\n", encoding="utf-8")
    settings = load_config(str(cfg)).settings.incidents
    assert (settings.group_by, settings.group_window_s) == ("step", 1800.0)
    cfg.write_text("incidents:\n  group_by: journey\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg))
    (problem,) = e.value.problems
    assert (problem.field, problem.line) == ("incidents.group_by", 2) and "cause or step" in str(e.value)
    assert IncidentSettings().group_by == "cause" and IncidentSettings().group_window_s == 600.0


# -- the lifecycle, by hand -------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: float = 5) -> None:
        self.now += timedelta(minutes=minutes)


def slow(path: str, ms: float = 8000) -> Finding:
    url = f"http://bank:8800{path}"
    return Finding(kind=Kind.STALL, reason=Reason.OVER_BUDGET, message=f"took {ms / 1000 + 0.2:.1f}s: GET {path}",
                   evidence={"slow_requests": [{"method": "GET", "url": url, "duration_ms": ms, "type": "fetch"}]},
                   cause=Cause.of_request("GET", url, Problem.SLOW, resource_type="fetch", ms=ms))


def dead_button() -> Finding:
    return Finding(kind=Kind.BREAKPOINT, reason=Reason.EXPECT_FAILED, message="the page stayed on /transfer/confirm",
                   fatal=True)


def journey(name: str, steps: dict[str, list[Finding]], attempt: int = 1) -> JourneyResult:
    srs = [StepResult(i, n, "click", status="failed" if fs else "passed", findings=fs, screenshot=f"{name}/{i}.png")
           for i, (n, fs) in enumerate(steps.items(), 1)]
    failed = any(fs for fs in steps.values())
    return JourneyResult(name, f"{name}.yaml", status="failed" if failed else "passed", steps=srs, attempt=attempt)


_runs = iter(range(1, 10_000))


def run(*journeys: JourneyResult) -> RunResult:
    r = RunResult(f"run-{next(_runs)}", "2026-12-06T03:00:00Z", journeys=list(journeys), run_dir="/tmp/runs/x")
    r.compute_status()
    return r


@pytest.fixture
def service(tmp_path):
    def make(**settings) -> tuple[IncidentService, Clock]:
        clock = Clock()
        store = open_store(f"sqlite:///{tmp_path}/state-{len(settings)}-{next(_runs)}.db")
        return IncidentService(store, IncidentSettings(confirm=0, **settings), public_url="https://patrol.example/runs",
                               clock=clock), clock
    return make


def rows(svc: IncidentService) -> list[dict]:
    with svc.store.read() as conn:
        return [dict(r) for r in conn.execute(select(incidents).order_by(incidents.c.id)).mappings()]


def slow_everywhere() -> RunResult:
    return run(
        journey("login", {"sign in": [slow("/api/login")]}),
        journey("transfer", {"sign in": [slow("/api/login")], "open transfer page": [slow("/api/cards")],
                             "confirm transfer": [slow("/api/transfer")]}),
        journey("buy_fund", {"sign in": [slow("/api/account")], "buy": [slow("/api/funds/880002/buy")]}),
    )


def test_a_slow_backend_is_one_incident_naming_its_endpoints_journeys_and_steps(service):
    svc, clock = service()
    result = svc.record_run(slow_everywhere())
    (inc,) = rows(svc)
    assert result.opened == [inc["id"]]
    assert inc["message"] == ("first-party API slow: 5 endpoints under /api answered in 8.0 s; 3 of 3 journeys, 6 steps")
    assert inc["cause"]["endpoint"] == "/api" and "POST /api/funds/{id}/buy" not in inc["cause"]["endpoints"]
    assert "GET /api/funds/{id}/buy" in inc["cause"]["endpoints"]
    assert [(e["journey"], [s["name"] for s in e["steps"]]) for e in inc["affected"]] == [
        ("login", ["sign in"]), ("transfer", ["sign in", "open transfer page", "confirm transfer"]),
        ("buy_fund", ["sign in", "buy"])]
    # The same runs, one incident per step as before.
    svc2, _ = service(group_by="step")
    svc2.record_run(slow_everywhere())
    assert len(rows(svc2)) == 6


def test_a_grouped_incident_resolves_when_every_journey_that_had_it_is_healthy(service):
    svc, clock = service(resolve_after=1)
    svc.record_run(slow_everywhere())
    clock.tick()
    # A schedule fires the journeys one by one: login is healthy again, the others not yet run.
    result = svc.record_run(run(journey("login", {"sign in": []})))
    assert not result.resolved and rows(svc)[0]["status"] == "open"
    clock.tick()
    result = svc.record_run(run(journey("transfer", {"sign in": [], "open transfer page": [], "confirm transfer": []}),
                                journey("buy_fund", {"sign in": [], "buy": []})))
    (inc,) = rows(svc)
    assert result.resolved == [inc["id"]] and inc["status"] == "resolved"
    # Back within the window: the same incident, open again; after the window, a new one.
    clock.tick(5)
    result = svc.record_run(run(journey("login", {"sign in": [slow("/api/login")]})))
    (inc,) = rows(svc)
    assert result.opened == [inc["id"]] and inc["status"] == "open" and inc["count"] == 2
    clock.tick()
    svc.record_run(run(journey("login", {"sign in": []})))
    clock.tick(11)
    svc.record_run(run(journey("login", {"sign in": [slow("/api/login")]})))
    assert [(r["status"], r["previous_id"]) for r in rows(svc)] == [("resolved", None), ("open", 1)]


def test_a_cause_another_journey_shows_in_a_later_run_joins_the_open_incident(service):
    svc, clock = service()
    svc.record_run(run(journey("login", {"sign in": [slow("/api/login")]})))
    clock.tick(2)
    result = svc.record_run(run(journey("transfer", {"confirm transfer": [slow("/api/transfer")]})))
    (inc,) = rows(svc)
    assert result.repeated == [inc["id"]] and not result.opened and inc["count"] == 2
    assert [e["journey"] for e in inc["affected"]] == ["login", "transfer"]
    assert set(inc["cause"]["endpoints"]) == {"GET /api/login", "GET /api/transfer"}


def test_two_unrelated_problems_are_two_incidents_and_a_lone_one_stays_per_step(service):
    svc, _ = service()
    r = slow_everywhere()
    r.journeys[1].steps[2].findings.append(dead_button())
    svc.record_run(r)
    grouped, lone = rows(svc)
    assert grouped["cause"]["key"] == "backend slow bank:8800/api"
    assert (lone["journey"], lone["step_name"], lone["reason"]) == ("transfer", "confirm transfer", "expect_failed")
    assert lone["cause"]["kind"] == "step" and len(lone["affected"]) == 1 and lone["message"] == dead_button().message
    # Its fingerprint is the one per-step incidents always had (open incidents carry over).
    from patrol.incidents.fingerprint import fingerprint

    assert lone["fingerprint"] == fingerprint("transfer", "confirm transfer", "breakpoint", "expect_failed", "web", "desktop")


def test_the_grouped_incident_as_on_call_receives_it(service):
    svc, _ = service()
    svc.record_run(slow_everywhere())
    with svc.store.read() as conn:
        from patrol.store import incident_repo

        row = incident_repo.get(conn, rows(svc)[0]["id"])
        inc = D.incident_object(row, "https://patrol.example/runs")
    assert inc["scope"] == {"journeys": 3, "steps": 6}
    assert inc["affected"][1]["steps"][0]["screenshot"]["url"] == "https://patrol.example/runs/x/transfer/1.png"
    doc = D.build("incident.opened", "0" * 32, datetime(2026, 12, 6, tzinfo=UTC), incident=inc)
    import jsonschema

    import patrol.notify

    schema = json.loads((Path(patrol.notify.__file__).parent / "schemas" / "webhook-v1.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(doc)))
    assert summary_line(doc).startswith("Opened: stall (over_budget): first-party API slow: 5 endpoints under /api")
    msg = message(doc)
    assert msg.title.startswith("Patrol OPENED #1 · first-party API slow") and "3 journey(s), 6 step(s)" in msg.title
    facts = dict(msg.facts)
    assert facts["Affected"].startswith("3 journey(s), 6 step(s): login: sign in; transfer: sign in, open transfer page")
    assert facts["First affected step"] == "login · step 1 “sign in” · web/desktop"
    assert [lk.label for lk in msg.links][:1] == ["Screenshot"]


def test_incidents_show_and_list_lead_with_the_cause_and_its_reach(tmp_path, capsys):
    from patrol.cli import main

    db = tmp_path / "state.db"
    svc = IncidentService(open_store(f"sqlite:///{db}"), IncidentSettings(confirm=0), clock=Clock())
    svc.record_run(slow_everywhere())
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text(f"state: {{url: 'sqlite:///{db}'}}\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--config", str(cfg), "incidents", "show", "1"]) == 0
    out = capsys.readouterr().out
    lines = [" ".join(ln.split()) for ln in out.splitlines()]
    assert lines[1] == "stall (over_budget): first-party API slow: 5 endpoints under /api answered in 8.0 s; 3 of 3 journeys, 6 steps"
    assert lines[2].startswith("cause first-party API slow") and lines[3] == "affected 3 journey(s), 6 step(s)"
    assert lines[5] == "transfer (web/desktop): 1 sign in, 2 open transfer page, 3 confirm transfer"
    assert any(ln.startswith("endpoints GET /api/login, GET /api/cards") for ln in lines)
    assert any(ln == "screenshot /tmp/runs/x/login/1.png" for ln in lines)
    assert main(["--config", str(cfg), "incidents"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "3 journey(s): login, transfer, buy_fund" in out and "6 steps" in out


# -- end to end: the real demo bank -------------------------------------------------------------------
def lean_journeys(folder: Path, names: tuple[str, ...] = WEB_JOURNEYS) -> Path:
    """The shipped web journeys without the eye checks, with a 1 s step budget."""
    out = folder / "journeys"
    out.mkdir()
    copy_flows(out)
    for name in names:
        d = yaml.safe_load((JOURNEYS / f"{name}.yaml").read_text(encoding="utf-8"))
        d["budgets"] = {"step": "1s", "timeout": "6s"}
        for step in d["steps"]:
            for key in ("visual", "text", "not_blank"):
                (step.get("expect") or {}).pop(key, None)
        (out / f"{name}.yaml").write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for extra in ("files", "steps"):
        if (JOURNEYS / extra).exists() and not (out / extra).exists():
            import shutil

            shutil.copytree(JOURNEYS / extra, out / extra)
    return out


def patrol_bank(patrol, tmp_path: Path, bank_url: str, group_by: str = "cause"):
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("state: {url: sqlite:///state.db}\n"
                   "detectors: {forbidden_text: false, blank_screen: false}\n"
                   f"incidents: {{confirm: 0, group_by: {group_by}}}\n", encoding="utf-8")
    folder = lean_journeys(tmp_path) if not (tmp_path / "journeys").exists() else tmp_path / "journeys"
    out = tmp_path / f"run-{group_by}"
    p = patrol("--config", str(cfg), "run", str(folder), "--base-url", bank_url, "--output", str(out), output=out)
    engine = create_engine(f"sqlite:///{tmp_path}/state.db")
    try:
        with engine.connect() as conn:
            found = [dict(r) for r in conn.execute(select(incidents).order_by(incidents.c.id)).mappings()]
    finally:
        engine.dispose()
    return p, found


@pytest.mark.faults("slow_api=1500")
def test_demo_bank_slow_api_is_one_incident_across_the_five_journeys(faulty_bank, patrol, tmp_path):
    p, found = patrol_bank(patrol, tmp_path, faulty_bank.url)
    assert p.code == 1, p.out + p.err
    findings = [f for j in p.report["journeys"] for s in j["steps"] for f in s["findings"]]
    assert len(found) == 1, [(r["journey"], r["step_name"], r["reason"], r["message"]) for r in found]
    (inc,) = found
    assert {e["journey"] for e in inc["affected"]} == set(WEB_JOURNEYS)
    steps = sum(len(e["steps"]) for e in inc["affected"])
    assert steps == len(findings) and steps >= 10
    assert inc["message"].startswith("first-party API slow: ") and f"; 5 of 5 journeys, {steps} steps" in inc["message"]
    assert {"POST /api/login", "GET /api/account", "POST /api/transfer"} <= set(inc["cause"]["endpoints"])
    assert "opened #1 (" in p.out and "opened #2" not in p.out


@pytest.mark.faults("static_500=app.js")
def test_demo_bank_dead_script_is_one_incident_across_every_journey_that_loads_it(faulty_bank, patrol, tmp_path):
    p, found = patrol_bank(patrol, tmp_path, faulty_bank.url)
    assert p.code == 1, p.out + p.err
    assert len(found) == 1, [(r["journey"], r["step_name"], r["reason"], r["message"]) for r in found]
    (inc,) = found
    assert inc["cause"]["kind"] == "resource" and inc["cause"]["template"] == "/static/app.js"
    assert {e["journey"] for e in inc["affected"]} == set(WEB_JOURNEYS) and inc["severity"] == "critical"
    assert inc["message"].startswith("the script /static/app.js answered HTTP 500; 5 of 5 journeys")


@pytest.mark.faults("dead_button=transfer-confirm", "slow_api=1500")
def test_demo_bank_two_unrelated_faults_are_two_incidents(faulty_bank, patrol, tmp_path):
    p, found = patrol_bank(patrol, tmp_path, faulty_bank.url)
    assert len(found) == 2, [(r["journey"], r["step_name"], r["reason"], r["message"]) for r in found]
    by_kind = {r["cause"]["kind"]: r for r in found}
    assert set(by_kind) == {"request", "step"}
    assert by_kind["step"]["journey"] == "transfer" and by_kind["step"]["step_name"] == "confirm transfer"
    assert {e["journey"] for e in by_kind["request"]["affected"]} == set(WEB_JOURNEYS)


@pytest.mark.faults("dead_button=bind-submit")
def test_demo_bank_fault_in_one_journey_stays_a_per_step_incident(faulty_bank, patrol, tmp_path):
    p, found = patrol_bank(patrol, tmp_path, faulty_bank.url)
    assert len(found) == 1, [(r["journey"], r["step_name"], r["reason"], r["message"]) for r in found]
    (inc,) = found
    assert (inc["journey"], inc["step_name"], inc["kind"]) == ("bind_card", "bind card", "breakpoint")
    assert len(inc["affected"]) == 1 and len(inc["affected"][0]["steps"]) == 1
    assert "journeys" not in inc["message"]


# -- end to end: a real app nobody here wrote ---------------------------------------------------------
@pytest.mark.xdist_group("real_app_node_red")
def test_real_app_failed_font_is_one_finding_per_step_and_one_incident(request, patrol, tmp_path):
    """Node-RED's icon font failing: the step that loads it has one finding (the font), a
    later screen it changed has its visual diff with the font as its cause."""
    real: RealApp = request.getfixturevalue("node_red")
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("state: {url: sqlite:///state.db}\nincidents: {confirm: 0}\n"
                   "browser: {locale: en-US, timezone: UTC}\nvisual: {baselines: baselines}\n", encoding="utf-8")
    journey = next(j for j in real.journeys() if j.stem == "sign_in")
    real.proxy.clear()
    assert patrol("--config", str(cfg), "run", str(journey)).code == 0  # the baselines, from a healthy app
    real.proxy.fail("/vendor/font-awesome/fonts/*")
    try:
        p = patrol("--config", str(cfg), "run", str(journey))
    finally:
        real.proxy.clear()
    steps = [s for j in p.report["journeys"] for s in j["steps"] if s["findings"]]
    assert steps and all(len(s["findings"]) == 1 for s in steps), [(s["name"], s["findings"]) for s in steps]
    causes = {(f["cause"]["kind"], f["cause"]["template"]) for s in steps for f in s["findings"]}
    assert causes == {("resource", "/vendor/font-awesome/fonts/fontawesome-webfont.woff2")}
    assert len(p.report["problems"]) == 1 and "incidents: opened #1 (" in p.out and "#2" not in p.out



@pytest.mark.parametrize(("app", "chunk", "template"), [
    pytest.param("node_red", "/red/red.min.js*", "/red/red.min.js", marks=pytest.mark.xdist_group("real_app_node_red")),
    pytest.param("jupyter", "/static/lab/jlab_core.*", "/static/lab/jlab_core.{hash}.js",
                 marks=pytest.mark.xdist_group("real_app_jupyter")),
])
def test_real_app_dead_script_chunk_is_one_incident_across_its_journeys(app, chunk, template, request, patrol, tmp_path):
    real: RealApp = request.getfixturevalue(app)
    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("state: {url: sqlite:///state.db}\nincidents: {confirm: 0}\n"
                   "browser: {locale: en-US, timezone: UTC}\nvisual: {baselines: baselines}\n", encoding="utf-8")
    real.proxy.clear()
    real.proxy.status(chunk, 500)
    try:
        p = patrol("--config", str(cfg), "run", *map(str, real.journeys()))
    finally:
        real.proxy.clear()  # the app is shared: no fault outlives its test
    assert p.report is not None, p.out + p.err
    engine = create_engine(f"sqlite:///{tmp_path}/state.db")
    try:
        with engine.connect() as conn:
            found = [dict(r) for r in conn.execute(select(incidents)).mappings()]
    finally:
        engine.dispose()
    assert len(found) == 1, [(r["journey"], r["step_name"], r["reason"], r["message"]) for r in found]
    (inc,) = found
    assert inc["cause"]["kind"] == "resource" and inc["cause"]["template"] == template
    assert {e["journey"] for e in inc["affected"]} == {j["name"] for j in p.report["journeys"]}
    assert len(inc["affected"]) == len(real.journeys()) == 3
    assert p.report["problems"][0]["line"] == inc["message"]
