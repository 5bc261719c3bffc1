"""Behind a reverse proxy (README, Console): the console, served by uvicorn as `patrol serve`
serves it, takes the client's address from X-Forwarded-For sent by a proxy on loopback, so
the sign-in limit stops the one address guessing and not everyone behind the proxy; the
session cookie is Secure (the proxy terminates TLS)."""

from __future__ import annotations

import httpx
from test_console_timeline import PASSWORD, serve, sign_in_http


def test_forwarded_client_address_drives_the_sign_in_limit_and_the_cookie_is_secure(tmp_path):
    (tmp_path / "patrol.yaml").write_text(f"state: {{url: 'sqlite:///{tmp_path}/state.db'}}\n", encoding="utf-8")
    for live in serve(tmp_path, {"qa": "approver"}):
        client = httpx.Client(base_url=live.url, follow_redirects=False)

        def sign_in(password: str, address: str, client: httpx.Client = client) -> httpx.Response:
            return sign_in_http(client, "qa", password, **{"X-Forwarded-For": address, "X-Forwarded-Proto": "https"})

        codes = [sign_in("wrong password", "203.0.113.5").status_code for _ in range(6)]
        assert codes[:5] == [401] * 5 and codes[5] == 429, codes
        assert sign_in(PASSWORD, "203.0.113.5").status_code == 429  # that address waits
        ok = sign_in(PASSWORD, "198.51.100.7")  # another client behind the same proxy does not
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
