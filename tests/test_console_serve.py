"""``patrol serve`` as people run it (issue 21): it starts without the receivers' secrets in
its environment (it only queues deliveries; the scheduler or the next patrol run sends them)
and says so on the deliveries page and in the API's retry answer."""

from __future__ import annotations

import httpx
from test_console_timeline import serve, sign_in_http

CONFIG = """state: {{url: 'sqlite:///{root}/state.db'}}
receivers:
  oncall:
    format: webhook
    url: https://hooks.example/${{secret:PATROL_TEST_ABSENT_URL_TOKEN}}
    secret: ${{secret:PATROL_TEST_ABSENT_SECRET}}
"""


def test_serve_starts_without_receiver_secrets_and_says_it_does_not_send(tmp_path, monkeypatch):
    from patrol.cli.serve import build_app
    from patrol.errors import InputError

    monkeypatch.delenv("PATROL_TEST_ABSENT_SECRET", raising=False)
    monkeypatch.delenv("PATROL_TEST_ABSENT_URL_TOKEN", raising=False)
    (tmp_path / "patrol.yaml").write_text(CONFIG.format(root=tmp_path), encoding="utf-8")
    # Sending still needs them: the incident service that sends refuses the same file, by name.
    from patrol.config import load_config
    from patrol.incidents.service import IncidentService

    try:
        IncidentService.from_config(load_config(str(tmp_path / "patrol.yaml")))
        raise AssertionError("a sender without its secret must be refused")
    except InputError as e:
        assert "PATROL_TEST_ABSENT" in str(e)
    assert build_app(str(tmp_path / "patrol.yaml")) is not None
    for live in serve(tmp_path, {"qa": "approver"}):
        client = httpx.Client(base_url=live.url, follow_redirects=False)
        r = sign_in_http(client, "qa")
        assert r.status_code == 303, r.text
        client.headers["cookie"] = r.headers["set-cookie"].split(";")[0]
        page = client.get("/deliveries")
        assert page.status_code == 200 and "This console does not send" in page.text and "patrol schedule" in page.text
