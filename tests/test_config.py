"""patrol.yaml is parsed whole at load into a typed ``PatrolConfig``: every bad value of
every section is exit 2 with ``patrol.yaml:line:column`` from `patrol validate` and
from `patrol run` (before any browser starts), never exit 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from patrol.config import load_config
from patrol.errors import ConfigError
from patrol.retention.settings import RETENTION

ROOT = Path(__file__).resolve().parents[1]
JOURNEY = "name: t\nbase_url: http://127.0.0.1:1\nsteps:\n  - goto: /\n"

# (section, patrol.yaml, line, column, field, words in the message)
BAD = [
    ("browser", "browser:\n  headless: maybe\n", 2, 13, "browser.headless", "expected true or false"),
    ("browser", "browser:\n  args: {a: 1}\n", 2, 9, "browser.args", "list of strings"),
    ("browser", "browser:\n  color_scheme: night\n", 2, 17, "browser.color_scheme", "light, dark, no-preference"),
    ("browser", "browser:\n  locale: chinese simplified\n", 2, 11, "browser.locale", "language tag such as zh-CN"),
    ("browser", "browser:\n  timezone: Asia/Beijing\n", 2, 13, "browser.timezone", "unknown time zone"),
    ("network", "network:\n  error_statuses: [500]\n", 2, 19, "network.error_statuses", "4xx status codes"),
    ("network", "network:\n  frist_party: [a.com]\n", 2, 3, "network.frist_party", "did you mean 'first_party'?"),
    ("busy", "busy: {spinner: 1}\n", 1, 7, "busy", "list of selectors"),
    ("budgets", "budgets:\n  step: 3\n", 2, 9, "budgets.step", "expected a duration with a unit"),
    ("forbidden_text", "forbidden_text:\n  ad: [x]\n", 2, 3, "forbidden_text.ad", "did you mean 'add'?"),
    ("detectors", "detectors:\n  blank_screen: nope\n", 2, 17, "detectors.blank_screen", "expected true or false"),
    ("ocr", "ocr:\n  lang: 'chi sim'\n", 2, 9, "ocr.lang", "Tesseract language names"),
    ("visual", "visual: {settle_timeout: soon}\n", 1, 26, "visual.settle_timeout", "'soon' is not a duration"),
    ("visual", "visual:\n  setle_timeout: 5s\n", 2, 3, "visual.setle_timeout", "did you mean 'settle_timeout'?"),
    ("state", "state:\n  url: not a url\n", 2, 8, "state.url", "SQLAlchemy URL"),
    ("incidents", "incidents:\n  confirm: 9\n", 2, 12, "incidents.confirm", "0 to 5"),
    ("incidents", "incidents:\n  timezone: Mars/Base\n", 2, 13, "incidents.timezone", "unknown time zone 'Mars/Base'"),
    ("incidents", "incidents:\n  delivery:\n    flush_timout: 1s\n", 3, 5, "incidents.delivery.flush_timout",
     "did you mean 'flush_timeout'?"),
    ("incidents", "incidents:\n  flapping: {start: 5%, stop: 20%}\n", 2, 13, "incidents.flapping", "must not be above start"),
    ("receivers", "receivers:\n  oncall:\n    format: slak\n    url: https://x.example\n", 3, 13, "receivers.oncall.format",
     "did you mean 'slack'?"),
    ("receivers", "receivers:\n  oncall:\n    format: {a: 1}\n    url: https://x.example\n", 3, 13, "receivers.oncall.format",
     "expected a format name, one of"),
    ("receivers", "receivers:\n  oncall:\n    format: slack\n    url: ftp://x.example\n", 4, 10, "receivers.oncall.url",
     "http:// or https://"),
    ("receivers", "receivers:\n  oncall:\n    format: slack\n    url: https://x.example\n    timeout: 10m\n", 5, 14,
     "receivers.oncall.timeout", "between 50ms and 2m"),
    ("public_url", "public_url: ftp://reports\n", 1, 13, "public_url", "http(s) URL"),
    ("schedules", "schedules:\n  nightly:\n    cron: '61 2 * * *'\n", 3, 11, "schedules.nightly.cron", "not a crontab expression"),
    ("schedules", "schedules:\n  smoke:\n    every: 5m\n    timezone: Asia/Nowhere\n", 4, 15, "schedules.smoke.timezone",
     "unknown time zone"),
    ("concurrency", "concurrency: 0\n", 1, 14, "concurrency", "1 to 64"),
    ("retention", "retention:\n  screenshots: 30\n", 2, 16, "retention.screenshots", "expected a duration"),
    ("retention", "retention:\n  prune: 'every night'\n", 2, 10, "retention.prune", "not a crontab expression"),
    ("appium", "appium:\n  url: localhost:4723\n", 2, 8, "appium.url", "http:// or https://"),
    ("appium", "appium:\n  devices:\n    pixel: {capabilites: {}}\n", 3, 13, "appium.devices.pixel.capabilites",
     "did you mean 'capabilities'?"),
    ("journeys", "journeys: [a, b]\n", 1, 11, "journeys", "expected a non-empty string"),
    ("reports", "reports: {}\n", 1, 10, "reports", "expected a non-empty string"),
    ("(file)", "visaul: {}\n", 1, 1, "visaul", "did you mean 'visual'?"),
]


def patrol(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
    return subprocess.run([sys.executable, "-m", "patrol", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**env, "PYTHONPATH": str(ROOT)})


def project(tmp_path: Path, config: str) -> Path:
    (tmp_path / "patrol.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "a.yaml").write_text(JOURNEY, encoding="utf-8")
    return tmp_path


def assert_reported(done: subprocess.CompletedProcess[str], config: Path, line: int, col: int, field: str, words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    want = f"{config}:{line}:{col}: {field}: "
    lines = [x for x in done.stderr.splitlines() if x.startswith(want)]
    assert lines, f"no {want!r} in:\n{done.stderr}"
    assert words in lines[0]
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("section, text, line, col, field, words", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_validate_gives_exit_2_and_the_position_of_each_bad_value(tmp_path, section, text, line, col, field, words):
    cwd = project(tmp_path, text)
    assert_reported(patrol(cwd, "validate"), cwd / "patrol.yaml", line, col, field, words)


def _groups() -> list[list[tuple[str, str, int, int, str, str]]]:
    """BAD in as few files as possible (a section at most once per file): `patrol run`
    reports every problem of a file at once, and each start is seconds."""
    groups: list[list[tuple[str, str, int, int, str, str]]] = []
    for case in BAD:
        home = next((g for g in groups if case[0] not in {c[0] for c in g}), None)
        if home is None:
            groups.append(home := [])
        home.append(case)
    return groups


@pytest.mark.parametrize("group", _groups(), ids=lambda g: f"{len(g)}-sections")
def test_run_gives_exit_2_and_the_position_of_each_bad_value_before_any_browser(tmp_path, group):
    text, offsets = "", []
    for case in group:
        offsets.append(text.count("\n"))
        text += case[1]
    cwd = project(tmp_path, text)
    done = patrol(cwd, "run")
    for (_section, _text, line, col, field, words), offset in zip(group, offsets):
        assert_reported(done, cwd / "patrol.yaml", line + offset, col, field, words)
    assert "report:" not in done.stdout  # nothing ran


def test_every_problem_of_the_file_is_reported_at_once_in_file_order(tmp_path):
    cwd = project(tmp_path, "concurrency: 0\nvisual: {settle_timeout: soon}\nincidents:\n  confirm: -1\nbrowzer: {}\n")
    done = patrol(cwd, "validate")
    assert done.returncode == 2
    where = [x.split(": ")[0].rsplit(":", 2)[1:] for x in done.stderr.splitlines()]
    assert where == [["1", "14"], ["2", "26"], ["4", "12"], ["5", "1"]]
    assert "did you mean 'browser'?" in done.stderr


def test_validate_reports_config_and_journey_problems_together(tmp_path):
    cwd = project(tmp_path, "concurrency: 0\n")
    (cwd / "journeys" / "b.yaml").write_text("name: b\nbase_url: http://x\nsteps:\n  - clik: '#a'\n", encoding="utf-8")
    done = patrol(cwd, "validate")
    assert done.returncode == 2
    assert "patrol.yaml:1:14: concurrency" in done.stderr
    assert "b.yaml:4:5: steps.0.clik" in done.stderr


def test_validate_says_ok_for_a_good_config_and_needs_no_secrets(tmp_path):
    cwd = project(tmp_path, "receivers:\n  hook:\n    format: webhook\n    url: https://hooks.example.com/x\n"
                            "    secret: ${secret:PATROL_TEST_UNSET_SECRET}\n")
    done = patrol(cwd, "validate")
    assert done.returncode == 0, done.stderr
    assert "ok " in done.stdout and "patrol.yaml: receivers" in done.stdout
    # ...while a run, which would send, needs it: exit 2 at the secret, before any browser
    done = patrol(cwd, "run")
    assert done.returncode == 2
    assert f"{cwd / 'patrol.yaml'}:5:13: receivers.hook.secret: secret PATROL_TEST_UNSET_SECRET is not set" in done.stderr


def test_schedule_refuses_a_bad_config_with_exit_2(tmp_path):
    cwd = project(tmp_path, "schedules:\n  smoke: {every: soon}\n")
    done = patrol(cwd, "schedule", "--list")
    assert done.returncode == 2
    assert f"{cwd / 'patrol.yaml'}:2:18: schedules.smoke.every: 'soon' is not a duration" in done.stderr


FULL = """\
journeys: flows
reports: out
concurrency: 3
public_url: https://patrol.example.com/reports/
browser: {executable: /usr/bin/chromium, headless: false, args: [--lang=zh-CN]}
budgets: {step: 3s, timeout: 10s, journey: 2m}
forbidden_text: {add: [请稍后重试, 100], allow: [NaN]}
detectors: {blank_screen: false}
ocr: {lang: eng}
visual: {baselines: shots, settle_timeout: 2.5s}
state: {url: 'sqlite:///db/state.db'}
incidents:
  confirm: 0
  resolve_after: 3
  remind_every: 4h
  timezone: Asia/Shanghai
  flapping: {window: 10, start: 30%, stop: 10}
  delivery: {flush_timeout: 0s, max_age: 1h, backoff: 1s, max_backoff: 1m}
receivers:
  team:
    format: slack
    url: https://hooks.slack.com/services/T000/B000/XXXX
    events: [opened, robot_error]
    journeys: ["transfer*"]
    tags: payments
    timeout: 2s
    rate_limit: 1/s
    language: zh
schedules:
  nightly: {cron: "0 2 * * 1-5", timezone: UTC, jitter: 5m, journeys: [flows/], tags: [smoke]}
  smoke: {every: 10m, active: {hours: "08:00-20:00", days: mon-fri}, grace: 1m, base_url: https://staging.example.com}
retention: {screenshots: 7d, reports: 30d, runs: forever, deliveries: 2d, prune: "0 4 * * *", timezone: UTC}
appium:
  url: http://127.0.0.1:4723
  session_timeout: 2m
  command_timeout: 30s
  devices:
    pixel: {url: "https://${PATROL_TEST_HUB}/wd/hub", capabilities: {platformName: Android}, description: a phone}
"""


def test_a_full_config_parses_to_typed_values(tmp_path):
    (tmp_path / "patrol.yaml").write_text(FULL, encoding="utf-8")
    c = load_config(str(tmp_path / "patrol.yaml"))
    assert c.journeys_dir == tmp_path / "flows" and c.reports_dir == tmp_path / "out"
    assert c.baselines_dir == tmp_path / "shots"
    assert c.settings.concurrency == 3 and c.public_url == "https://patrol.example.com/reports"
    assert (c.settings.browser.executable, c.settings.browser.headless, c.settings.browser.args) == ("/usr/bin/chromium", False, ("--lang=zh-CN",))
    assert (c.settings.budgets.step_ms, c.settings.budgets.timeout_ms, c.settings.budgets.journey_ms) == (3000, 10000, 120000)
    assert c.settings.forbidden_text.add == ("请稍后重试", "100") and c.settings.forbidden_text.allow == ("NaN",)
    assert not c.settings.detectors.on("blank_screen") and c.settings.detectors.on("broken_image")
    assert c.settings.ocr.lang == "eng" and c.settings.visual.settle_timeout_ms == 2500
    assert c.settings.state.url == "sqlite:///db/state.db" and c.settings.state.enabled
    i = c.settings.incidents
    assert (i.confirm, i.resolve_after, i.remind_every_s, i.timezone) == (0, 3, 4 * 3600, "Asia/Shanghai")
    assert (i.flapping.window, i.flapping.start, i.flapping.stop) == (10, 30.0, 10.0)
    assert (i.delivery.flush_timeout_s, i.delivery.max_age_s, i.delivery.backoff_s, i.delivery.max_backoff_s) == (0, 3600, 1, 60)
    team = c.settings.receivers["team"]
    assert (team.format, team.events, team.journeys, team.tags) == ("slack", frozenset({"opened", "robot_error"}),
                                                                    ("transfer*",), ("payments",))
    assert (team.timeout_s, team.rate_limit, team.language) == (2.0, (1, 1.0), "zh")
    nightly, smoke = c.settings.schedules
    assert (nightly.job_id, nightly.cron, nightly.timezone, nightly.jitter_s, nightly.journeys) == (
        "schedule:nightly", "0 2 * * 1-5", "UTC", 300.0, ("flows/",))
    assert (smoke.every_s, smoke.hours, smoke.days, smoke.grace_s) == (600.0, ((480, 1200),), (0, 1, 2, 3, 4), 60.0)
    assert smoke.base_url == "https://staging.example.com"
    r = c.settings[RETENTION]
    assert dict(r.ages) == {"screenshots": 7 * 86400, "reports": 30 * 86400, "runs": None, "deliveries": 2 * 86400}
    assert (r.prune_cron, r.timezone) == ("0 4 * * *", "UTC")
    a = c.settings.appium
    assert (a.url, a.session_timeout_ms, a.command_timeout_ms) == ("http://127.0.0.1:4723", 120_000, 30_000)
    pixel = a.devices["pixel"]
    assert pixel.url == "https://${PATROL_TEST_HUB}/wd/hub"  # resolved by the driver, not at load
    assert dict(pixel.capabilities) == {"platformName": "Android"} and pixel.description == "a phone"


def test_no_file_and_an_empty_file_give_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PATROL_CONFIG", raising=False)
    c = load_config()
    assert c.file is None and c.settings.concurrency == 1 and c.settings.visual.settle_timeout_ms == 5000 and c.settings.ocr.lang == "chi_sim+eng"
    (tmp_path / "patrol.yaml").write_text("# nothing yet\n", encoding="utf-8")
    c = load_config()
    assert c.settings[RETENTION].prune_cron == "30 3 * * *" and c.settings.state.enabled and not c.settings.receivers and c.settings.schedules == ()


def test_the_settings_are_frozen(tmp_path):
    (tmp_path / "patrol.yaml").write_text("visual: {settle_timeout: 1s}\n", encoding="utf-8")
    c = load_config(str(tmp_path / "patrol.yaml"))
    with pytest.raises(AttributeError):
        c.settings.visual.settle_timeout_ms = 0  # type: ignore[misc]


def test_a_bad_file_raises_config_error_with_all_problems(tmp_path):
    (tmp_path / "patrol.yaml").write_text("ocr: {lang: [eng], score: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path / "patrol.yaml"))
    assert [(p.field, p.line, p.column) for p in e.value.problems] == [("ocr.lang", 1, 13), ("ocr.score", 1, 20)]


def test_loading_the_config_needs_no_heavy_libraries(tmp_path):
    (tmp_path / "patrol.yaml").write_text("visual: {settle_timeout: 1s}\nretention: {screenshots: 7d}\n", encoding="utf-8")
    code = ("import sys; import patrol.plugins; from patrol.config import load_config; load_config('patrol.yaml');"
            "print(','.join(m for m in ('cv2', 'numpy', 'apscheduler', 'playwright', 'sqlalchemy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_project_budgets_apply_where_a_journey_says_nothing(tmp_path):
    from patrol.journey.loader import load_all, project_budgets

    cfg = tmp_path / "patrol.yaml"
    cfg.write_text("budgets: {step: 7s, timeout: 20s, journey: 2m}\n", encoding="utf-8")
    steps = "base_url: http://127.0.0.1:1/\nsteps:\n  - goto: /\n"
    (tmp_path / "journeys").mkdir()
    (tmp_path / "journeys" / "silent.yaml").write_text("name: silent\n" + steps, encoding="utf-8")
    (tmp_path / "journeys" / "own.yaml").write_text("name: own\nbudgets: {step: 2s}\n" + steps, encoding="utf-8")
    journeys = {j.name: j for j in load_all([str(tmp_path / "journeys")], budgets=project_budgets(load_config(str(cfg))))}
    silent, own = journeys["silent"].budgets, journeys["own"].budgets
    assert (silent.step_ms, silent.timeout_ms, silent.journey_ms) == (7000, 20000, 120000)
    assert (own.step_ms, own.timeout_ms, own.journey_ms) == (2000, 20000, 120000), "the journey's own value wins"
    # No patrol.yaml budgets: the built-in ones (a journey's time limit is 10 minutes).
    plain = {j.name: j for j in load_all([str(tmp_path / "journeys")])}["silent"].budgets
    assert (plain.step_ms, plain.timeout_ms, plain.journey_ms) == (5000, 15000, 600_000)


def test_a_feature_section_is_read_typed_by_its_key_and_registered_once(tmp_path):
    from patrol.config.model import SECTIONS, FeatureSection, PatrolConfig
    from patrol.maintenance.settings import MAINTENANCE, MaintenanceSettings
    from patrol.retention.settings import RetentionSettings, parse_retention

    assert {"maintenance", "retention"} <= set(SECTIONS)
    assert PatrolConfig()[RETENTION] == RetentionSettings() and PatrolConfig()[MAINTENANCE] == MaintenanceSettings()
    (tmp_path / "patrol.yaml").write_text("retention: {screenshots: 2d}\nmaintenance:\n  deploy: {cron: '0 22 * * *', duration: 1h}\n",
                                          encoding="utf-8")
    settings = load_config(str(tmp_path / "patrol.yaml")).settings
    assert settings[RETENTION].ages["screenshots"] == 2 * 86400
    assert [w.name for w in settings[MAINTENANCE].windows] == ["deploy"]
    with pytest.raises(ValueError, match="already has a section 'retention'"):
        FeatureSection("retention", "a second owner", RetentionSettings, parse_retention, RetentionSettings())


def test_reading_a_feature_section_before_the_plugins_load_is_a_clear_error(tmp_path):
    (tmp_path / "patrol.yaml").write_text("retention: {screenshots: 7d}\n", encoding="utf-8")
    code = "from patrol.config import load_config; load_config('patrol.yaml')"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0 and "import patrol.plugins before reading patrol.yaml" in done.stderr, done.stderr
