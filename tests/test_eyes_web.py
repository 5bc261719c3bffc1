"""Issue 3 end to end: every rendering fault of the demo bank is caught by the
human-eye checks of the shipped journeys, with the right reason at the right step,
through real Chromium and real Tesseract; and a healthy bank gives no false alarm."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import JOURNEYS, ROOT, config_with_copied_baselines

CONFIG = str(ROOT / "patrol.yaml")


@pytest.fixture
def baselines(tmp_path):
    """A copy of the committed baselines, so no test can change the real ones."""
    return config_with_copied_baselines(tmp_path, "\nstate: false\n")


def run(patrol, cfg, bank, journey):
    return patrol("--config", str(cfg), "run", str(JOURNEYS / f"{journey}.yaml"), "--base-url", bank.url)


@pytest.mark.parametrize(
    "fault, journey, step, reason",
    [
        ("nan_balance", "login", "sign in", "forbidden_text"),
        ("no_chart", "login", "sign in", "blank_region"),
        ("broken_image", "login", "sign in", "broken_image"),
        ("layout_shift", "login", "sign in", "visual_diff"),
        ("error_toast", "login", "open login page", "forbidden_text"),
    ],
)
def test_rendering_fault_is_caught(fault, journey, step, reason, patrol, baselines):
    from patrol.demo.server import DemoBank

    with DemoBank(port=0, faults=[fault]) as bank:
        p = run(patrol, baselines, bank, journey)
    assert p.code == 1, p.out + p.err
    found = p.findings(journey)
    assert (step, "render", reason) in found, found
    first_render = next(f for f in found if f[1] == "render")
    assert first_render[0] == step, f"caught at the wrong step: {found}"
    s = next(s for s in p.journey(journey)["steps"] if s["name"] == step)
    f = next(f for f in s["findings"] if f["reason"] == reason)
    if reason == "visual_diff":
        labels = [i["label"] for i in f["evidence"]["images"]]
        assert labels == ["baseline", "actual", "diff"]
        for img in f["evidence"]["images"]:
            assert (p.run_dir / img["path"]).exists()
        html = (p.run_dir / "index.html").read_text(encoding="utf-8")
        assert f["evidence"]["images"][2]["path"] in html
    if reason == "forbidden_text":
        assert f["evidence"]["text"] in ("NaN", "系统繁忙")


def test_a_white_page_is_one_finding_its_crash_with_the_blank_screen_inside(patrol, baselines):
    """The cause first: the script that crashed is the finding; the white screen it left
    is its consequence, not a second incident."""
    from patrol.demo.server import DemoBank

    with DemoBank(port=0, faults=["blank_page=transfer"]) as bank:
        p = run(patrol, baselines, bank, "transfer")
    assert p.code == 1, p.out + p.err
    assert p.findings("transfer") == [("open transfer page", "breakpoint", "page_error")]
    s = next(s for s in p.journey("transfer")["steps"] if s["name"] == "open transfer page")
    assert any("blank" in c for c in s["findings"][0]["evidence"]["consequences"]), s["findings"][0]["evidence"]


def test_healthy_bank_no_false_alarms(patrol, baselines, bank):
    for _ in range(2):
        p = patrol("--config", str(baselines), "run", *map(str, sorted(JOURNEYS.glob("*.yaml"))), "--base-url", bank.url)
        assert p.code == 0, [(j["name"], p.findings(j["name"])) for j in p.report["journeys"]]


def test_redacted_pixels_are_painted_before_storing(patrol, baselines, bank):
    from patrol.core.png import decode_png
    from patrol.runner.redaction import REDACT_COLOUR

    p = run(patrol, baselines, bank, "login")
    assert p.code == 0, p.out
    step = next(s for s in p.journey("login")["steps"] if s["name"] == "sign in")
    boxes = step["artifacts"]["redacted"]
    assert len(boxes) >= 2, "account name and number are on the home page"
    img = decode_png((p.run_dir / step["screenshot"]).read_bytes())
    for x, y, w, h in boxes:
        region = img[y:y + h, x:x + w]
        assert region.size and np.all(region == np.array(REDACT_COLOUR, dtype=np.uint8)), (x, y, w, h)
    # The OCR text kept for the report never saw the name either.
    assert "张晓明" not in json.dumps(p.report, ensure_ascii=False)


def test_missing_baseline_is_stored_as_new_then_compared(patrol, tmp_path, bank):
    cfg = tmp_path / "fresh.yaml"
    cfg.write_text(f"visual: {{baselines: {tmp_path / 'b'}}}\nstate: false\n", encoding="utf-8")
    p = run(patrol, cfg, bank, "login")
    assert p.code == 0
    step = next(s for s in p.journey("login")["steps"] if s["name"] == "sign in")
    assert step["artifacts"]["visual"]["status"] == "new"
    stored = tmp_path / "b" / "login" / "home.desktop.png"
    assert stored.exists()
    manifest = json.loads((tmp_path / "b" / "login" / "manifest.json").read_text())
    assert manifest["home.desktop.png"]["viewport"] == [1280, 800]
    p2 = run(patrol, cfg, bank, "login")
    step2 = next(s for s in p2.journey("login")["steps"] if s["name"] == "sign in")
    assert p2.code == 0 and step2["artifacts"]["visual"]["status"] == "match"


def test_environment_mismatch_is_not_a_visual_diff(patrol, baselines, bank, tmp_path):
    manifest_path = next((tmp_path / "baselines" / "login").glob("manifest.json"))
    m = json.loads(manifest_path.read_text())
    for entry in m.values():
        entry["scale"] = 3.0
    manifest_path.write_text(json.dumps(m))
    p = run(patrol, baselines, bank, "login")
    assert p.code == 0
    step = next(s for s in p.journey("login")["steps"] if s["name"] == "sign in")
    assert step["artifacts"]["visual"]["status"] == "environment_mismatch"
    assert "device scale factor" in step["artifacts"]["visual"]["why"][0]


def test_approve_promotes_a_finished_runs_screenshots(patrol, baselines, tmp_path):
    from patrol.demo.server import DemoBank

    with DemoBank(port=0, faults=["layout_shift"]) as bank:
        p = run(patrol, baselines, bank, "login")
    assert ("sign in", "render", "visual_diff") in p.findings("login")
    approve = patrol("--config", str(baselines), "baseline", "approve", str(p.run_dir), "--journey", "login", "--step", "sign in")
    assert approve.code == 0, approve.err
    shot = p.run_dir / next(s for s in p.journey("login")["steps"] if s["name"] == "sign in")["screenshot"]
    assert (tmp_path / "baselines" / "login" / "home.desktop.png").read_bytes() == shot.read_bytes()
    bad = patrol("--config", str(baselines), "baseline", "approve", str(p.run_dir), "--journey", "nope")
    assert bad.code == 2 and "not in this run" in bad.err
