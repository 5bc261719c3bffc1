"""The robot's own failures on the app path are robot errors (exit 3, a clear message,
``robot_error`` on the journey), never findings about the app: the Appium server is
down, the capabilities are refused, the session dies mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from appium_fixtures.server import appium_server, fake_journey, project_config  # noqa: F401


def _patrol(tmp_path, journey, env: dict, wait: bool = True):
    cmd = [sys.executable, "-m", "patrol", "run", str(journey), "--output", str(tmp_path / "out")]
    full_env = {**os.environ, "PATROL_CONFIG": str(project_config(tmp_path)), **env}
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                                cwd=tmp_path)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=120)


def _robot_error(tmp_path) -> dict:
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["status"] == "error"
    [journey] = report["journeys"]
    assert all(not s["findings"] for s in journey["steps"]), "a robot failure is never a finding about the app"
    return journey


def test_appium_server_down_is_a_robot_error(tmp_path):
    from patrol.appium_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    journey = fake_journey(tmp_path, "no-server", "- tap: {id: login}\n")
    r = _patrol(tmp_path, journey, {"PATROL_APPIUM_URL": url})
    out = r.stdout + r.stderr
    assert r.returncode == 3, out
    assert "appium_unreachable" in out and "cannot reach the Appium server" in out
    assert "Traceback" not in out
    j = _robot_error(tmp_path)
    assert j["robot_error"]["reason"] == "appium_unreachable"
    message = j["robot_error"]["message"]
    assert message.startswith(f"cannot reach the Appium server at {url} (from PATROL_APPIUM_URL): connection refused")
    assert "make appium" in message
    assert [s["status"] for s in j["steps"]] == ["skipped"]


def test_refused_capabilities_are_a_robot_error_with_the_capabilities_masked(appium_server, tmp_path):
    secret = "cloud-" + os.urandom(6).hex()
    journey = tmp_path / "bad-caps.yaml"
    journey.write_text(
        "name: bad-caps\ntarget: app\n"
        "capabilities:\n"
        "  platformName: Android\n"
        "  automationName: NoSuchDriver\n"
        "  appPackage: com.example.bank\n"
        "  bstack:options: {userName: patrol, accessKey: '${secret:CLOUD_KEY}'}\n"
        "steps:\n  - tap: {id: login}\n",
        encoding="utf-8",
    )
    r = _patrol(tmp_path, journey, {"PATROL_APPIUM_URL": appium_server.url, "CLOUD_KEY": secret})
    out = r.stdout + r.stderr
    assert r.returncode == 3, out
    assert "session_not_created" in out and "could not create a session" in out
    assert secret not in out
    j = _robot_error(tmp_path)
    assert j["robot_error"]["reason"] == "session_not_created"
    message = j["robot_error"]["message"]
    assert "NoSuchDriver" in message, "the server's own words say what was wrong"
    assert "capabilities sent:" in message and '"appium:appPackage": "com.example.bank"' in message
    assert '"accessKey": "******"' in message and '"userName": "patrol"' in message
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"secret leaked into {f}"


def test_session_killed_mid_run_is_device_lost(appium_server, tmp_path):
    device = f"Phone {os.urandom(3).hex()}"
    journey = fake_journey(tmp_path, "killed", """\
        - name: sign in
          tap: {id: login}
        - name: wait for the receipt
          wait_for: {id: receipt}
        """, timeout="120s")
    text = journey.read_text(encoding="utf-8").replace("deviceName: Fake Phone", f"deviceName: {device}")
    journey.write_text(text, encoding="utf-8")
    proc = _patrol(tmp_path, journey, {"PATROL_APPIUM_URL": appium_server.url}, wait=False)
    try:
        deadline = time.monotonic() + 30
        session = None
        while session is None and time.monotonic() < deadline:
            session = next((s["id"] for s in appium_server.sessions()
                            if s.get("capabilities", {}).get("deviceName") == device), None)
            time.sleep(0.1)
        assert session, "the journey's session never appeared on the server"
        # Step 1's screenshot is written when it finished: from then on the journey waits in step 2.
        while not list((tmp_path / "out").rglob("01-*.png")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list((tmp_path / "out").rglob("01-*.png")), "the first step never finished"
        req = urllib.request.Request(f"{appium_server.url}/session/{session}", method="DELETE")
        urllib.request.urlopen(req, timeout=10).read()
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    # Far under the step's 120 s timeout, however loaded the machine: noticed at once.
    assert time.monotonic() - t0 < 60, "the lost session was noticed at once, not after the step's timeout"
    assert "device_lost" in out + err and "Traceback" not in out + err
    j = _robot_error(tmp_path)
    assert j["robot_error"]["reason"] == "device_lost"
    assert j["robot_error"]["message"].startswith("the Appium session ended during"), j["robot_error"]
    assert j["steps"][0]["status"] == "passed"
