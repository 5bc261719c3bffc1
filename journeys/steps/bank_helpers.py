"""Example ``python:`` step functions for the demo bank (see patrol/actions/python_step.py
for the contract). A journey in ``journeys/`` calls them as::

    - python: {call: steps.bank_helpers:count_funds, stores: [fund_count]}
    - python: {call: steps.bank_helpers:at_least, args: {name: fund_count, min: 2}}
    - python: {call: steps.bank_helpers:balance_from_api, stores: [api_balance]}
    - goto: /home
      expect: {number_of: {selector: "#total-assets", equals: "${vars.api_balance}"}}

(``stores:`` names what a function stores, so ``patrol validate`` knows ``${vars.NAME}``.)
"""

from __future__ import annotations

import httpx

from patrol.actions.python_context import PythonContext


async def count_funds(ctx: PythonContext) -> dict[str, int]:
    """On the funds page: how many funds are listed (stored as ``fund_count``).
    Async, so it awaits the Playwright page directly."""
    selector = ctx.args.get("selector", "a.fund-link")
    await ctx.page.locator(selector).first.wait_for(timeout=ctx.timeout_ms)
    return {"fund_count": await ctx.page.locator(selector).count()}


def balance_from_api(ctx: PythonContext) -> dict[str, str]:
    """The total assets as the back end reports them, with the browser's session cookie
    (stored as ``api_balance``). Sync: it runs in a worker thread, so the blocking HTTP
    call is fine; the page's cookies are read on the journey's loop with ``ctx.run``."""
    cookies = ctx.run(ctx.page.context.cookies())
    jar = {c["name"]: c["value"] for c in cookies}
    r = httpx.get(f"{ctx.base_url}/api/account", cookies=jar, timeout=ctx.timeout_ms / 1000)
    r.raise_for_status()
    return {"api_balance": r.json()["total_assets"]}


def at_least(ctx: PythonContext) -> None:
    """Fails the step unless the stored value ``args.name`` is at least ``args.min``."""
    name, minimum = ctx.args["name"], float(ctx.args["min"])
    value = float(ctx.vars[name].replace(",", ""))
    assert value >= minimum, f"{name} is {value:g}, expected at least {minimum:g}"
