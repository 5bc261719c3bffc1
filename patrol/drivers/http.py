"""HTTP for ``request:`` steps: the call and its answer as plain data, sending one with
httpx (a cookie jar per journey), and the driver of a journey that has only such
steps, which starts no browser at all.

A ``request:`` step in a web journey may instead go through the browser's own session
(``session: browser``): the Playwright driver sends it with its context's request API,
so it carries the cookies the journey signed in with (``SendsInSession``).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..core.vocabulary import Reason
from ..errors import ActionFailed
from .base import DialogAnswer, Driver, DriverEvents, Engine

if TYPE_CHECKING:
    import httpx

    from ..config import Config
    from ..journey.model import Journey, Locator
    from .base import EngineOptions


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str  # absolute
    headers: dict[str, str] = field(default_factory=dict)
    json: object = None  # sent as JSON when ``has_json`` (the journey's YAML value)
    has_json: bool = False
    form: dict[str, str] | None = None  # sent as application/x-www-form-urlencoded


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # names lower-case; repeated headers joined with ", "
    body: bytes
    url: str  # where the answer came from (after redirects)
    elapsed_ms: float


class HttpFailed(Exception):
    """No answer at all: refused, not resolved, reset, timed out. ``unreachable``: the
    host itself could not be reached (refused, not resolved), not this one request."""

    def __init__(self, message: str, *, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


@runtime_checkable
class SendsInSession(Protocol):
    """A driver that sends a request with the cookies of the page the journey drives."""

    async def send_in_session(self, call: HttpCall, *, timeout_ms: float) -> HttpAnswer: ...


# Each browser journey's own cookie jar for its request: steps without session: browser, by its
# driver (a login step's cookie goes with the next request:); gone with the driver.
_JARS: weakref.WeakKeyDictionary[Driver, httpx.Cookies] = weakref.WeakKeyDictionary()


async def send(call: HttpCall, driver: Driver, *, timeout_ms: float) -> HttpAnswer:
    """``call`` sent with httpx, with the journey's own cookie jar (not the browser's)."""
    import httpx  # loaded on the first request: parsing a journey stays light

    t0 = time.monotonic()
    try:
        if isinstance(driver, HttpDriver):  # a client for the journey, kept open (its connections reused)
            response = await _request(driver.client(), call, timeout_ms)
        else:
            jar = _JARS.get(driver)
            async with httpx.AsyncClient(cookies=jar, follow_redirects=True) as client:
                response = await _request(client, call, timeout_ms)
                _JARS[driver] = client.cookies
    except httpx.TimeoutException:
        raise HttpFailed(f"no answer within {timeout_ms / 1000:g}s") from None
    except httpx.ConnectError as e:
        raise HttpFailed(str(e) or "could not connect", unreachable=True) from None
    except httpx.HTTPError as e:
        raise HttpFailed(str(e) or type(e).__name__) from None
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return HttpAnswer(response.status_code, headers, response.content, str(response.url),
                      (time.monotonic() - t0) * 1000)


async def _request(client: httpx.AsyncClient, call: HttpCall, timeout_ms: float) -> httpx.Response:
    """The call's body as JSON (``has_json``) or a form, else none."""
    return await client.request(call.method, call.url, headers=call.headers, timeout=timeout_ms / 1000,
                                json=call.json if call.has_json else None,
                                data=call.form if not call.has_json else None)


# -- a journey of request: steps only -----------------------------------------------------------
class HttpEngine(Engine):
    """Nothing to start: each journey gets a driver with an empty cookie jar."""

    name = "http"

    @classmethod
    def from_config(cls, config: Config, options: EngineOptions) -> Engine:
        return cls()

    async def start(self) -> None:
        return None

    async def new_driver(self, journey: Journey) -> Driver:
        return HttpDriver()

    async def close(self) -> None:
        return None


def _no_browser() -> ActionFailed:
    # Unreachable for a journey the runner gave this driver (only request: steps and
    # conditions on stored values); a guard, not a feature.
    return ActionFailed("this journey runs without a browser (it has only request: steps)", reason=Reason.ACTION_FAILED)


class HttpDriver(Driver):
    """No screen, no page: request: steps send with httpx; everything else is refused."""

    platform = "web"
    has_screen = False

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        """The journey's HTTP client (its cookie jar), made on the first request."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=True)
        return self._client

    async def goto(self, url: str, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def click(self, locator: Locator, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def fill(self, locator: Locator, text: str, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def press(self, key: str, locator: Locator | None, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def select(self, locator: Locator, by: str, choice: str, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def scroll(self, locator: Locator | None, dx: int, dy: int, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def wait_for(self, locator: Locator, state: str, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def back(self, *, timeout_ms: float) -> None:
        raise _no_browser()

    async def is_visible(self, locator: Locator) -> bool:
        raise _no_browser()

    async def current_url(self) -> str:
        return ""

    async def screenshot(self) -> bytes:
        raise _no_browser()

    async def busy_indicator_visible(self) -> bool:
        return False

    def drain_events(self) -> DriverEvents:
        return DriverEvents()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def answer_dialogs(self, answer: DialogAnswer | None) -> None:
        return None

    async def texts_of(self, locator: Locator) -> list[str]:
        raise _no_browser()

    async def attributes_of(self, locator: Locator, name: str) -> list[str | None]:
        raise _no_browser()

    async def values_of(self, locator: Locator) -> list[str]:
        raise _no_browser()
