"""One active scheduler: a Redis key set with NX and an expiry, renewed by its holder.

A standby tries to take it every ``TRY_EVERY_S``; when the leader dies the key expires
after ``TTL_S``, so a standby leads within ``TTL_S + TRY_EVERY_S`` (17 s, under the
30 s the README promises). A leader that cannot renew (Redis gone, or a pause longer
than the expiry) stops firing at once; a slot both fire anyway is sent once, because
its firing key is recorded in the state database before its task is sent."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis import Redis

TTL_S = 15.0
RENEW_EVERY_S = 5.0
TRY_EVERY_S = 2.0

# Extend the expiry / delete the key only while we hold it (atomic on the server).
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def leader_key(state_url: str) -> str:
    """One leader per state database (two fleets may share a Redis)."""
    from sqlalchemy.engine import make_url

    shown = make_url(state_url).render_as_string(hide_password=True)
    return "patrol:scheduler:leader:" + hashlib.sha256(shown.encode()).hexdigest()[:16]


def identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLock:
    def __init__(self, redis_url: str, state_url: str, *, ttl_s: float = TTL_S, name: str | None = None) -> None:
        import redis

        self.client: Redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.key = leader_key(state_url)
        self.name = name or identity()
        self.ttl_ms = int(ttl_s * 1000)
        self.leading = False
        self._last_renew = 0.0
        self._last_try = float("-inf")

    def tick(self, now: float | None = None) -> bool:
        """Take or keep the lock as due (call often); whether this process leads now."""
        now = time.monotonic() if now is None else now
        try:
            if self.leading:
                if now - self._last_renew >= RENEW_EVERY_S:
                    self.leading = bool(self.client.eval(_RENEW, 1, self.key, self.name, self.ttl_ms))
                    self._last_renew = now
            elif now - self._last_try >= TRY_EVERY_S:
                self._last_try = now
                self.leading = bool(self.client.set(self.key, self.name, nx=True, px=self.ttl_ms))
                self._last_renew = now
        except Exception:  # Redis unreachable: a leader that cannot renew must not fire
            self.leading = False
        return self.leading

    def holder(self) -> tuple[str | None, float | None]:
        """Who leads and for how long the lock still holds (seconds), from Redis."""
        value = self.client.get(self.key)
        ttl = self.client.pttl(self.key)
        text = value.decode() if isinstance(value, bytes) else value
        return (text or None), (ttl / 1000 if ttl and ttl > 0 else None)

    def release(self) -> None:
        if self.leading:
            try:
                self.client.eval(_RELEASE, 1, self.key, self.name)
            except Exception:
                pass  # it expires on its own
        self.leading = False
        try:
            self.client.close()
        except Exception:
            pass
