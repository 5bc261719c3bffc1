"""Issue 24: the capture proxy on its own, with real clients through it: HTTPS to a
loopback server of the test's own (its own CA, which the proxy is told to trust
upstream) works for a client that trusts the proxy's CA and is recorded like any
request; a client that pins the server's certificate refuses the proxy's, which is
named as pinning (a robot error, never a finding); a proxy nobody uses says so, and
one that cannot listen is a robot error."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import logging
import ssl
import threading
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from patrol.config import Config
from patrol.config.reader import Reader
from patrol.config.sections import parse_appium
from patrol.config.web import NetworkSettings
from patrol.core.urls import RequestPolicy
from patrol.drivers.app.app_network import AppCapture, AppNetwork
from patrol.drivers.app.capture_proxy import CaptureFailed, open_listener
from patrol.drivers.base import DriverEvents
from patrol.errors import RobotError

pytestmark = pytest.mark.e2e  # servers of its own and the proxy: not in `make check`


def _cert(subject: str, issuer_key, issuer_name, key, *, ca: bool, san: list[str] | None = None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """A loopback HTTPS server with a certificate from a CA of the test's own."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Patrol test CA")])
    ca = _cert("Patrol test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("localhost", ca_key, ca_name, key, ca=False, san=["localhost", "api.example.com"])
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"ok": true}'
            self.send_response(200 if self.path.startswith("/ok") else 503)
            if not self.path.startswith("/ok"):
                self.send_header("Retry-After", "3")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, server.server_address[1]
    server.shutdown()


def network() -> AppNetwork:
    return AppNetwork(NetworkSettings(), RequestPolicy.for_journey("https://localhost/"))


async def _through_proxy(https_server, tmp_path: Path):
    folder, port = https_server
    sink = network()
    listener = await asyncio.to_thread(open_listener, sink, asyncio.get_running_loop(), None, tmp_path / "ca",
                                       str(folder / "ca.pem"))
    capture = AppCapture(sink, listener)
    proxy = f"http://{listener.address}"
    try:
        # A device that trusts the proxy's CA (as docs/mobile.md sets one up).
        async with httpx.AsyncClient(proxy=proxy, verify=ssl.create_default_context(cafile=listener.ca_cert)) as app:
            ok = await app.get(f"https://localhost:{port}/ok?session=abcdef0123456789abcdef0123456789")
            busy = await app.get(f"https://localhost:{port}/busy")
        # An app that pins its server's certificate: it trusts the server's own CA only.
        pinned_error = None
        async with httpx.AsyncClient(proxy=proxy, verify=ssl.create_default_context(cafile=folder / "ca.pem")) as app:
            try:
                # Never resolved: the handshake with the proxy fails before it connects upstream.
                await app.get(f"https://api.example.com:{port}/ok")
            except httpx.HTTPError as e:
                pinned_error = e
        await asyncio.sleep(0.3)  # the proxy's last events reach the journey's loop
        events = DriverEvents()
        robot_error = None
        try:
            capture.drain_into(events)
        except RobotError as e:
            robot_error = e
        return ok, busy, pinned_error, events, robot_error
    finally:
        await capture.close()


def test_tls_through_the_proxy_is_recorded_and_a_pinned_certificate_is_named(https_server, tmp_path):
    ok, busy, pinned_error, events, robot_error = asyncio.run(_through_proxy(https_server, tmp_path))
    assert ok.status_code == 200 and ok.json() == {"ok": True}
    assert busy.status_code == 503
    requests = {(r.method, r.url.split("?")[0]): r for r in events.requests}
    first = requests[("GET", f"https://localhost:{https_server[1]}/ok")]
    assert (first.status, first.error, first.type, first.first_party) == (200, None, "fetch", True), first
    assert first.size == 12 and first.duration_ms is not None and first.duration_ms > 0
    assert first.url.endswith("?session=***"), first.url  # a session token in a URL is masked
    unavailable = requests[("GET", f"https://localhost:{https_server[1]}/busy")]
    assert unavailable.status == 503 and unavailable.retry_after_s == 3 and unavailable.cause == "request_failed"
    # The pinned client would not take the proxy's certificate: no request of it exists,
    # and the robot says why instead of a finding about the app.
    assert pinned_error is not None
    assert isinstance(robot_error, CaptureFailed) and robot_error.reason == "capture_failed"
    assert str(robot_error).startswith("TLS handshakes to api.example.com fail through the proxy: the app pins its "
                                       "certificate"), robot_error


def test_a_proxy_nobody_uses_says_so_and_one_that_cannot_listen_is_a_robot_error(tmp_path, caplog):
    async def go() -> None:
        sink = network()
        listener = await asyncio.to_thread(open_listener, sink, asyncio.get_running_loop(), None, tmp_path / "ca")
        try:
            with pytest.raises(CaptureFailed, match="in use by another journey"):
                await asyncio.to_thread(open_listener, network(), asyncio.get_running_loop(), listener.address,
                                        tmp_path / "ca")
            # The port is held by something else: the proxy cannot listen there.
            import socket

            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                with pytest.raises(CaptureFailed, match=r"could not listen on 127\.0\.0\.1:\d+"):
                    await asyncio.to_thread(open_listener, network(), asyncio.get_running_loop(),
                                            f"127.0.0.1:{taken.getsockname()[1]}", tmp_path / "ca")
        finally:
            with caplog.at_level(logging.WARNING):
                await AppCapture(sink, listener).close()

    asyncio.run(go())
    assert "saw no traffic during the journey: the device does not use it" in caplog.text


def test_capture_off_is_todays_app_path_and_listen_is_checked():
    assert asyncio.run(AppCapture.open(Config(), None)) is None  # type: ignore[arg-type]
    r = Reader("patrol.yaml")
    section = parse_appium(r, {"network": {"capture": True, "listen": "0.0.0.0:8080"}})
    assert (section.network.capture, section.network.listen) == (True, "0.0.0.0:8080") and not r.problems
    r = Reader("patrol.yaml")
    parse_appium(r, {"network": {"capture": "yes", "listen": "8080", "proxy": 1}})
    assert sorted(p.field for p in r.problems) == ["appium.network.capture", "appium.network.listen",
                                                   "appium.network.proxy"], r.problems


def test_doctor_checks_the_proxy_listens_and_tls_through_it_works_and_says_how_to_set_devices_up(tmp_path):
    from patrol.cli.doctor import capture
    from patrol.config import load_config

    def items(network: str) -> list:
        cfg = tmp_path / "patrol.yaml"
        cfg.write_text(f"appium:\n  network: {network}\n  devices:\n    pixel:\n"
                       "      capabilities: {platformName: Android, appium:udid: emulator-5554}\n", encoding="utf-8")
        return capture(load_config(str(cfg)))

    assert items("{capture: false}") == []
    proxy, device = items(f"{{capture: true, ca_dir: {tmp_path / 'ca'}}}")
    assert proxy.ok and "TLS through it with its CA works" in proxy.detail and str(tmp_path / "ca") in proxy.detail
    assert not device.ok and "free port each run" in device.detail and "appium.network.listen" in device.fix
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proxy, device = items(f"{{capture: true, listen: '127.0.0.1:{port}', ca_dir: {tmp_path / 'ca'}}}")
    assert proxy.ok and f"listens on 127.0.0.1:{port}" in proxy.detail
    # No adb on this machine: the set-up is said, not checked (not a missing piece).
    assert not device.ok and not device.required and f"settings put global http_proxy HOST:{port}" in device.fix
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        [proxy] = [i for i in items(f"{{capture: true, listen: '127.0.0.1:{taken.getsockname()[1]}', "
                                    f"ca_dir: {tmp_path / 'ca'}}}") if i.name == "capture proxy"]
    assert not proxy.ok and proxy.required and "could not listen" in proxy.detail and "appium.network.listen" in proxy.fix


def test_with_tracing_the_proxy_puts_the_steps_trace_context_on_the_apps_own_requests_only(tmp_path):
    from patrol.core.tracecontext import TraceContext

    seen: dict[str, str | None] = {}
    recorded: dict[str, str | None] = {}

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen[self.headers["Host"].split(":")[0]] = self.headers.get("traceparent")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    async def go() -> None:
        sink = AppNetwork(NetworkSettings(), RequestPolicy.for_journey(f"http://localhost:{port}/"))
        listener = await asyncio.to_thread(open_listener, sink, asyncio.get_running_loop(), None, tmp_path / "ca")
        try:
            sink.trace = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "pay", "confirm")
            async with httpx.AsyncClient(proxy=f"http://{listener.address}") as app:
                await app.get(f"http://localhost:{port}/api/own")  # the app's own site
                await app.get(f"http://127.0.0.1:{port}/sdk/collect")  # another site: a third party
            await asyncio.sleep(0.2)  # the proxy's last events reach the journey's loop
            for record in sink.requests.drain()[0]:
                recorded[record.url.split("/")[2].split(":")[0]] = record.trace_id
        finally:
            await AppCapture(sink, listener).close()

    try:
        asyncio.run(go())
    finally:
        server.shutdown()
    assert seen == {"localhost": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "127.0.0.1": None}, seen
    # The request evidence says which trace it went in, as the browser's does.
    assert recorded == {"localhost": "0af7651916cd43dd8448eb211c80319c", "127.0.0.1": None}, recorded


def test_what_the_proxy_sees_is_said_in_the_web_paths_words():
    from patrol.drivers.app.capture_proxy import chromium_error, resource_type, socket_url

    assert resource_type("GET", "https://a.example/x", {"sec-fetch-dest": "script"}) == "script"
    assert resource_type("GET", "https://a.example/x", {"sec-fetch-dest": "empty"}) == "fetch"
    assert resource_type("GET", "https://a.example/live", {"upgrade": "websocket"}) == "websocket"
    # A native app's requests: the Accept header and the path, else one of its API calls.
    assert resource_type("GET", "https://a.example/", {"accept": "text/html,application/xhtml+xml"}) == "document"
    assert resource_type("GET", "https://cdn.example/p/banner.webp?v=2", {"accept": "*/*"}) == "image"
    assert resource_type("GET", "https://a.example/events", {"accept": "text/event-stream"}) == "eventsource"
    assert resource_type("POST", "https://api.example/v1/transfer", {"accept": "application/json"}) == "fetch"
    assert socket_url("https://api.example/ws?token=x") == "wss://api.example/ws?token=x"
    assert chromium_error("[Errno 111] Connect call failed ('10.0.0.1', 443)").startswith("net::ERR_CONNECTION_REFUSED")
    assert chromium_error("[Errno -2] Name or service not known").startswith("net::ERR_NAME_NOT_RESOLVED")
    assert chromium_error("Client disconnected.").startswith("net::ERR_ABORTED")  # the app gave up: never a failure
