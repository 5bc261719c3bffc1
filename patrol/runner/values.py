"""``store:``: values read from the page after a step's action, for later steps'
``${vars.NAME}``. A value marked ``secret`` (or equal to a secret) is masked in
everything Patrol writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.vocabulary import Reason
from ..errors import ActionFailed
from ..journey.expressions import ExpressionError, parse_number
from ..secrets import MASK, MASKER

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.model import StoreSpec


async def read_value(spec: StoreSpec, driver: Driver) -> str | None:
    """The value now, or None while there is none to read."""
    if spec.source == "url":
        url = await driver.current_url()
        assert spec.pattern is not None
        m = spec.pattern.search(url)
        return None if m is None else (m.group(1) if m.groups() else m.group(0))
    assert spec.locator is not None
    if spec.source == "attribute":
        found = [v for v in await driver.attributes_of(spec.locator, spec.attribute) if v is not None]
    elif spec.source == "value":
        found = await driver.values_of(spec.locator)
    else:
        found = [" ".join(t.split()) for t in await driver.texts_of(spec.locator)]
    if not found:
        return None
    if spec.source == "number_of":
        try:
            return str(parse_number(found[0]))
        except ExpressionError:
            return None  # not a number yet (still loading): read again
    return found[0]


async def store_values(specs: dict[str, StoreSpec], driver: Driver, into: dict[str, str],
                       *, timeout_ms: float) -> dict[str, str]:
    """Read every value (waiting, like an expectation, for it to be there); what the
    report shows, secrets masked. Raises ActionFailed when one never comes."""
    shown: dict[str, str] = {}
    for name, spec in specs.items():
        value: str | None = None

        async def ready(spec: StoreSpec = spec) -> bool:
            nonlocal value
            value = await read_value(spec, driver)
            return value is not None

        if not await driver.wait_until(ready, timeout_ms=timeout_ms) or value is None:
            what = spec.locator.describe() if spec.locator is not None else "the URL"
            raise ActionFailed(f"could not store '{name}': no {spec.source.replace('_', ' ')} in {what} "
                               f"within {timeout_ms / 1000:.1f}s", reason=Reason.EXPECT_FAILED)
        if spec.secret:
            MASKER.add(value)
        into[name] = value
        shown[name] = MASK if spec.secret else MASKER.mask(value)
    return shown
