"""``if:`` and ``repeat: {until:}``: questions asked of the live screen, each given
at most ``CONDITION_GRACE_MS`` for what it asks about to settle (an element still
appearing): a condition is a question, not a wait."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ActionFailed
from ..journey.expressions import ExpressionError, parse_number
from ..journey.model import CONDITION_GRACE_MS, Condition, Locator, TextCondition, UrlCondition, VarCondition
from ..journey.placeholders import Scope, substitute

if TYPE_CHECKING:
    from ..config import Config
    from ..drivers.base import Driver


async def holds(condition: Condition, driver: Driver, scope: Scope, config: Config,
                grace_ms: float = CONDITION_GRACE_MS) -> bool:
    condition = substitute(condition, scope)
    if isinstance(condition, VarCondition):
        return _same(scope.vars.get(condition.name), condition.equals)
    if isinstance(condition, UrlCondition):
        return condition.pattern.search(await driver.current_url()) is not None
    if isinstance(condition, TextCondition):
        from ..checks.screen import locate_on_screen

        try:
            await locate_on_screen(driver, Locator("text", condition.words), timeout_ms=grace_ms, config=config)
            return True
        except ActionFailed:
            return False
    locator, want = condition.locator, condition.visible

    async def answered() -> bool:
        return await driver.is_visible(locator) is want

    return await driver.wait_until(answered, timeout_ms=grace_ms)


def _same(value: str | None, expected: str | None) -> bool:
    """Equal as written, or as numbers ("2,362.46" equals "2362.46")."""
    if value is None or expected is None:
        return False
    if value.strip() == expected.strip():
        return True
    try:
        return parse_number(value) == parse_number(expected)
    except ExpressionError:
        return False
