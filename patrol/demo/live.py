"""The live quote: a WebSocket (``/live/quotes``) on the demo bank's own server.

Standard library only, like the rest of the bank: the RFC 6455 handshake and the
few frames a quote stream needs (text out, close and ping in). The funds page opens
it; the server sends the quote at once, then every ``QUOTE_EVERY_S``. The value never
changes (a healthy screen stays the same pixels); what moves is only the socket.

The page must be signed in, and passes the session's stream token in the URL
(``?fund=880001&token=...``), as many real apps do: Patrol must mask it.

Faults: ``ws_drop`` closes every connection right after its handshake (code 1011);
``ws_delay=MS`` holds every message back MS milliseconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

from . import data
from .faults import WS_CLOSE_CODE, WS_CLOSE_REASON, FaultSet

PATH = "/live/quotes"
QUOTE_EVERY_S = 1.0
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_MAX_FRAME = 64 * 1024  # what a client may send in one frame (it sends nothing but close and ping)
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def stream_token(secret: bytes, session_token: str) -> str:
    """The token the page puts in the WebSocket URL: tied to its session."""
    return hmac.new(secret, session_token.encode(), hashlib.sha256).hexdigest()[:32]


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame (a server never masks)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(_CLOSE, code.to_bytes(2, "big") + reason.encode("utf-8")[:123])


def parse_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """The complete frames at the start of ``buf`` (removed from it), unmasked."""
    out = []
    while len(buf) >= 2:
        n, at = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = int.from_bytes(buf[2:10], "big"), 10
        if n > _MAX_FRAME:
            raise ValueError("frame too large")
        masked = bool(buf[1] & 0x80)
        end = at + (4 if masked else 0) + n
        if len(buf) < end:
            break
        payload = bytes(buf[end - n:end])
        if masked:
            mask = buf[at:at + 4]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        out.append((buf[0] & 0x0F, payload))
        del buf[:end]
    return out


@dataclass
class LiveStats:
    """What the server did with the live quote (tests read it)."""

    opened: int = 0
    closes: list[float] = field(default_factory=list)  # time.monotonic() of every close the server began

    def closed_now(self) -> None:
        self.closes.append(time.monotonic())


def quote(seq: int) -> bytes:
    fund = data.FUNDS[0]
    return json.dumps({"type": "quote", "code": fund["code"], "name": fund["name"], "nav": fund["nav"],
                       "seq": seq}, ensure_ascii=False).encode("utf-8")


def serve(sock: socket.socket, faults: FaultSet, stats: LiveStats, stopped: Callable[[], bool]) -> None:
    """The stream, once the 101 answer is sent: quotes out, until the page closes, the
    fault drops it, or the bank stops."""
    stats.opened += 1
    if faults.ws_dropped():
        stats.closed_now()
        _send(sock, close_frame(WS_CLOSE_CODE, WS_CLOSE_REASON))
        _await_close(sock, 1.0)
        return
    delay = faults.ws_delay()
    next_at, seq, buf = time.monotonic() + delay, 1, bytearray()
    while not stopped():
        wait = max(0.0, min(next_at - time.monotonic(), 0.25))
        try:
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                chunk = sock.recv(4096)
                if not chunk:
                    return  # the page went away without a close frame
                buf += chunk
                for opcode, payload in parse_frames(buf):
                    if opcode == _CLOSE:
                        _send(sock, frame(_CLOSE, payload[:2]))  # echo the code, as the protocol asks
                        return
                    if opcode == _PING:
                        _send(sock, frame(_PONG, payload))
            if time.monotonic() >= next_at:
                _send(sock, frame(_TEXT, quote(seq)))
                seq, next_at = seq + 1, next_at + QUOTE_EVERY_S
        except (OSError, ValueError):
            return
    stats.closed_now()
    _send(sock, close_frame(1001, "server stopping"))


def _send(sock: socket.socket, payload: bytes) -> None:
    try:
        sock.sendall(payload)
    except OSError:
        pass


def _await_close(sock: socket.socket, timeout_s: float) -> None:
    """Let the page answer our close frame (a clean close); then the connection goes."""
    try:
        readable, _, _ = select.select([sock], [], [], timeout_s)
        if readable:
            sock.recv(4096)
    except OSError:
        pass


def handshake_headers(headers: Message) -> str | None:
    """The Sec-WebSocket-Accept value for a valid upgrade request, else None."""
    if (headers.get("Upgrade") or "").lower() != "websocket" or "upgrade" not in (headers.get("Connection") or "").lower():
        return None
    key = headers.get("Sec-WebSocket-Key")
    if not key or headers.get("Sec-WebSocket-Version") != "13":
        return None
    return accept_key(key.strip())
