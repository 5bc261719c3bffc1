"""``request:``: call the app's API from a journey, judge the answer, keep values from it.

::

    - name: balance
      request:
        method: GET                      # GET (default), POST, PUT, PATCH, DELETE, HEAD, OPTIONS
        url: /api/account                # joined to the journey's base_url
        headers: {X-Api-Key: "${secret:API_KEY}"}
        json: {amount: 12.34}            # or form: {field: value}
        session: browser                 # with the browser's cookies (web journeys); default: the journey's own jar
        budget: 800ms                    # slower is a stall whose cause is this endpoint
        expect:
          status: 200                    # or [200, 201]; default: any 2xx
          headers: {content-type: {matches: "json"}}
          json:
            "$.name": 张三
            "$.total_assets": {number: ">= 0"}
        store:
          account: "$.account_no"                       # a JSON path of the answer
          request_id: {header: x-request-id}
          token: {json: "$.token", secret: true}        # masked everywhere

Also written ``request: GET /api/account`` (method and URL, status 2xx expected).

A failed call (no answer, a status, a header or a JSON value other than expected) is a
breakpoint whose cause is the endpoint (method + URL template), so it is one incident
with the same failure seen by a browser step. The call and its answer (headers and
bodies clipped, secrets masked) are the step's evidence (``request`` in report.json).
A journey of only ``request:`` steps runs without a browser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from ..causes import Cause, Problem
from ..core.jsontypes import JsonObject
from ..core.tracecontext import STEP_TRACE
from ..core.urls import mask_url
from ..core.vocabulary import Kind, Reason
from ..drivers.http import HttpAnswer, HttpCall, HttpFailed, SendsInSession, send
from ..journey.expressions import ExpressionError, evaluate, parse_number
from ..journey.parsing import INVALID, Invalid
from ..results import Finding
from ..secrets import MASK, MASKER
from . import register
from .base import Action, ActionContext

if TYPE_CHECKING:
    from ..drivers.base import Driver
    from ..journey.parsing import ParseContext, YamlPath

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SESSIONS = ("journey", "browser")
# What the evidence keeps of a body, and headers whose values are credentials whatever they hold.
BODY_LIMIT = 2048
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
COMPARISONS = (">=", "<=", "!=", "==", ">", "<", "=")
_PATH_PART = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[(-?\d+)\]|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")
_CALL_LINE = re.compile(r"^(?:(" + "|".join(METHODS) + r")\s+)?(\S+)$")
KEYS = {"method": "GET, POST, PUT, PATCH, DELETE...", "url": "relative to base_url", "headers": "NAME: value",
        "json": "a JSON body", "form": "a form body (NAME: value)", "session": "journey (default) or browser",
        "budget": "the longest the answer may take", "expect": "status, headers, json", "store": "NAME: JSON path"}


@dataclass(frozen=True)
class JsonPath:
    """``$.a.b[0]``: names and indexes (negative from the end), nothing else."""

    text: str
    parts: tuple[str | int, ...]

    def find(self, doc: object) -> tuple[bool, object]:
        """(found, value)."""
        for part in self.parts:
            if isinstance(part, int) and isinstance(doc, list) and -len(doc) <= part < len(doc):
                doc = doc[part]
            elif isinstance(part, str) and isinstance(doc, dict) and part in doc:
                doc = doc[part]
            else:
                return False, None
        return True, doc


@dataclass(frozen=True)
class ValueTest:
    """One expectation on a value: ``equals`` (a JSON value), ``number`` (a comparison
    such as ``">= 0"``), ``matches`` (a regular expression, searched) or ``exists``."""

    how: str
    value: object = None  # equals: the JSON value; matches: the expression; exists: the flag
    comparison: tuple[str, str] = ("==", "")  # number: the operator and what it compares with

    def judge(self, found: bool, value: object) -> str | None:
        """None when it holds, else what was wrong."""
        if self.how == "exists":
            return None if found == bool(self.value) else ("is missing" if self.value else f"is there ({_short(value)})")
        if not found:
            return "is missing"
        if self.how == "equals":
            return None if _same(value, self.value) else f"is {_short(value)}, expected {_short(self.value)}"
        if self.how == "matches":
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            return None if re.search(str(self.value), text) else f"is {_short(value)}, expected to match {str(self.value)!r}"
        op, expression = self.comparison
        try:
            want = evaluate(expression)
        except ExpressionError as e:
            return f"cannot be compared: {e}"
        try:
            got = _number(value)
        except (ExpressionError, InvalidOperation, ValueError):
            return f"is {_short(value)}, not a number"
        holds = {">=": got >= want, "<=": got <= want, ">": got > want, "<": got < want,
                 "==": got == want, "=": got == want, "!=": got != want}[op]
        return None if holds else f"is {_short(value)}, expected {op} {expression}"


# What ``expect:`` asks of the answer: the statuses (() any 2xx), header tests, JSON path tests.
Expected: TypeAlias = "tuple[tuple[int, ...], tuple[tuple[str, ValueTest], ...], tuple[tuple[JsonPath, ValueTest], ...]]"


@dataclass(frozen=True)
class StoreFrom:
    json: JsonPath | None = None
    header: str | None = None
    secret: bool = False


@dataclass(frozen=True)
class RequestSpec:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None  # the ``json:`` body as the journey wrote it
    has_json: bool = False
    form: dict[str, str] | None = None
    session: str = "journey"
    budget_ms: float | None = None
    status: tuple[int, ...] = ()  # () any 2xx
    header_tests: tuple[tuple[str, ValueTest], ...] = ()
    json_tests: tuple[tuple[JsonPath, ValueTest], ...] = ()
    store: tuple[tuple[str, StoreFrom], ...] = ()


@register
class Request(Action[RequestSpec]):
    """Call an HTTP endpoint of the app (relative to base_url) and judge its answer:
    ``expect`` a status, headers and JSON paths (``"$.balance": {number: ">= 0"}``),
    a time ``budget``, ``store`` values for later steps; ``session: browser`` sends it
    with the browser's cookies. A failure is a breakpoint caused by the endpoint; a
    journey of request steps only runs without a browser."""

    name = "request"
    on_screen = False
    summary = ("call an API endpoint: {method, url, headers, json | form, session, budget, "
               "expect: {status, headers, json}, store}, or \"GET /path\"")
    _test: ClassVar[JsonObject] = {"oneOf": [{"type": ["string", "number", "boolean", "null", "array"]},
                       {"type": "object", "minProperties": 1, "maxProperties": 1,
                        "properties": {"equals": {}, "number": {"type": ["string", "number"]},
                                       "matches": {"type": "string"}, "exists": {"type": "boolean"}},
                        "additionalProperties": False}]}
    schema = {
        "oneOf": [
            {"type": "string", "minLength": 1, "description": "METHOD /path, or a path (GET)"},
            {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "method": {"enum": list(METHODS)},
                    "url": {"type": "string", "minLength": 1},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "json": {},
                    "form": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                    "session": {"enum": list(SESSIONS)},
                    "budget": {"type": ["string", "number"]},
                    "expect": {
                        "type": "object",
                        "properties": {
                            "status": {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
                            "headers": {"type": "object", "additionalProperties": _test},
                            "json": {"type": "object", "additionalProperties": _test},
                        },
                        "additionalProperties": False,
                    },
                    "store": {"type": "object", "additionalProperties": {"oneOf": [
                        {"type": "string"},
                        {"type": "object", "properties": {"json": {"type": "string"}, "header": {"type": "string"},
                                                          "secret": {"type": "boolean"}},
                         "additionalProperties": False}]}},
                },
                "additionalProperties": False,
            },
        ]
    }

    # -- the journey file ------------------------------------------------------------------------
    def parse(self, value: object, path: YamlPath, ctx: ParseContext) -> RequestSpec | Invalid:
        if isinstance(value, str):
            m = _CALL_LINE.match(value.strip())
            if m is None or m.group(2).upper() in METHODS:
                return ctx.error(path, f"expected 'METHOD /path' ({', '.join(METHODS)}) or a path, got {value!r}")
            return RequestSpec(method=m.group(1) or "GET", url=m.group(2))
        # Every problem of the step at once: a wrong key does not hide the others.
        ok = ctx.mapping(value, path, KEYS, ("url",)) is not INVALID
        if not isinstance(value, dict) or "url" not in value:
            return INVALID
        method = ctx.choice(str(value.get("method", "GET")).upper(), path + ("method",), METHODS)
        url = ctx.string(value["url"], path + ("url",))
        headers = self._strings(value.get("headers", {}), path + ("headers",), ctx)
        form = self._strings(value["form"], path + ("form",), ctx) if "form" in value else None
        if "json" in value and "form" in value:
            ctx.error(path + ("form",), "give a json or a form body, not both", key=True)
            ok = False
        session = ctx.choice(value.get("session", "journey"), path + ("session",), SESSIONS)
        if session == "browser" and ctx.target != "web":
            ctx.error(path + ("session",), "session: browser shares a web journey's cookies; app journeys have none")
            ok = False
        budget = ctx.duration(value["budget"], path + ("budget",)) if "budget" in value else None
        expect = self._expect(value.get("expect", {}), path + ("expect",), ctx)
        store = self._store(value["store"], path + ("store",), ctx) if "store" in value else ()
        if not ok or isinstance(method, Invalid) or isinstance(url, Invalid) or isinstance(headers, Invalid) \
                or isinstance(form, Invalid) or isinstance(session, Invalid) or isinstance(budget, Invalid) \
                or isinstance(expect, Invalid) or isinstance(store, Invalid):
            return INVALID
        status, header_tests, json_tests = expect
        return RequestSpec(method=method, url=url, headers=headers, body=value.get("json"), has_json="json" in value,
                           form=form, session=session, budget_ms=budget, status=status, header_tests=header_tests,
                           json_tests=json_tests, store=store)

    @staticmethod
    def _strings(value: object, path: YamlPath, ctx: ParseContext) -> dict[str, str] | Invalid:
        if not isinstance(value, dict):
            return ctx.error(path, "expected a mapping NAME: value")
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                ctx.error(path + (k,), f"expected a text or a number, got {type(v).__name__}")
                return INVALID
            out[str(k)] = str(v)
        return out

    def _expect(self, value: object, path: YamlPath, ctx: ParseContext) -> Expected | Invalid:
        ok = ctx.mapping(value, path, {"status": "200 or [200, 201]", "headers": "NAME: test",
                                       "json": "JSON path: test"}) is not INVALID
        if not isinstance(value, dict):
            return INVALID
        status: tuple[int, ...] = ()
        if "status" in value:
            given: object = value["status"]
            raw = given if isinstance(given, list) else [given]
            if not raw or not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in raw):
                ctx.error(path + ("status",), "a status is a number from 100 to 599 (or a list of them)")
                ok = False
            status = tuple(s for s in raw if isinstance(s, int))  # all of them when ok
        headers: list[tuple[str, ValueTest]] = []
        raw_headers = value.get("headers") or {}
        if not isinstance(raw_headers, dict):
            return ctx.error(path + ("headers",), "expected a mapping of header names to tests: {content-type: {matches: json}}")
        for name, test in raw_headers.items():
            parsed = _value_test(test, path + ("headers", name), ctx)
            if isinstance(parsed, Invalid):
                ok = False
            else:
                headers.append((str(name).lower(), parsed))
        tests: list[tuple[JsonPath, ValueTest]] = []
        raw_json = value.get("json") or {}
        if not isinstance(raw_json, dict):
            return ctx.error(path + ("json",), 'expected a mapping of JSON paths to tests: {"$.balance": {number: ">= 0"}}')
        for where, test in raw_json.items():
            json_path = _json_path(where, path + ("json", where), ctx)
            parsed = _value_test(test, path + ("json", where), ctx)
            if isinstance(json_path, Invalid) or isinstance(parsed, Invalid):
                ok = False
            else:
                tests.append((json_path, parsed))
        return (status, tuple(headers), tuple(tests)) if ok else INVALID

    @staticmethod
    def _store(value: object, path: YamlPath, ctx: ParseContext) -> tuple[tuple[str, StoreFrom], ...] | Invalid:
        if not isinstance(value, dict) or not value:
            return ctx.error(path, 'store is a mapping NAME: "$.json.path" or {json | header, secret}')
        out: list[tuple[str, StoreFrom]] = []
        for name, spec in value.items():
            at = path + (name,)
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                return ctx.error(at, f"{name!r} is not a variable name (letters, digits and _)", key=True)
            given = ctx.mapping({"json": spec} if isinstance(spec, str) else spec, at,
                                {"json": "a JSON path", "header": "a header name", "secret": "true: masked"})
            if given is INVALID:
                return INVALID
            if ("json" in given) == ("header" in given):
                return ctx.error(at, "give exactly one of: json, header")
            secret = ctx.boolean(given.get("secret", False), at + ("secret",))
            if "json" in given:
                json_path = _json_path(given["json"], at + ("json",), ctx)
                if isinstance(json_path, Invalid) or isinstance(secret, Invalid):
                    return INVALID
                out.append((name, StoreFrom(json=json_path, secret=secret)))
            else:
                header = ctx.string(given["header"], at + ("header",))
                if isinstance(header, Invalid) or isinstance(secret, Invalid):
                    return INVALID
                out.append((name, StoreFrom(header=header.lower(), secret=secret)))
        ctx.vars_known.update(name for name, _ in out)
        return tuple(out)

    def describe(self, params: RequestSpec) -> str:
        return f"request {params.method} {mask_url(MASKER.mask(params.url))}"

    def without_browser(self, params: RequestSpec) -> bool:
        return params.session != "browser"

    # -- the call ----------------------------------------------------------------------------------
    async def perform(self, driver: Driver, params: RequestSpec, ctx: ActionContext) -> None:
        url = ctx.absolute(params.url)
        trace = STEP_TRACE.get()  # tracing: the step's span is the parent of what the endpoint does
        traced = trace is not None and trace.sends_to(url)
        headers = {**trace.headers(), **params.headers} if trace is not None and traced else params.headers
        call = HttpCall(params.method, url, headers, params.body, params.has_json, params.form)
        shown = _shown_call(call)
        if trace is not None and traced:
            shown.update(trace_id=trace.trace_id, span_id=trace.span_id)
        evidence: dict[str, object] = {"request": shown}
        ctx.report["request"] = evidence
        answer: HttpAnswer | None = None
        try:
            if params.session == "browser":
                if not isinstance(driver, SendsInSession):
                    raise HttpFailed("session: browser needs the browser of a web journey")
                answer = await driver.send_in_session(call, timeout_ms=ctx.timeout_ms)
            else:
                answer = await send(call, driver, timeout_ms=ctx.timeout_ms)
        except HttpFailed as e:
            evidence["error"] = MASKER.mask(str(e))
            cause = (Cause.of_host(_host(call.url), MASKER.mask(str(e))) if e.unreachable
                     else Cause.of_request(call.method, call.url, Problem.FAILED, resource_type="fetch"))
            ctx.findings.append(Finding(kind=Kind.BREAKPOINT, reason=Reason.REQUEST_FAILED, fatal=True, cause=cause,
                                        message=f"{self.describe(params)} got no answer: {MASKER.mask(str(e))}",
                                        evidence=dict(evidence)))
            return
        evidence["response"] = _shown_answer(answer)
        problems, problem, reason = _judge(params, answer)
        stored: dict[str, str] = {}
        if not problems:
            problems += _store(params, answer, stored)
            reason = Reason.EXPECT_FAILED
        if problems:
            ctx.findings.append(Finding(
                kind=Kind.BREAKPOINT, reason=reason, fatal=True,
                message=f"{self.describe(params)}: " + "; ".join(problems), evidence={**evidence, "problems": problems},
                cause=Cause.of_request(call.method, call.url, problem, resource_type="fetch", status=answer.status)))
            return
        for name, value in stored.items():
            ctx.vars[name] = value
        ctx.stored.update({name: MASK if spec.secret else MASKER.mask(stored[name]) for name, spec in params.store})
        if params.budget_ms is not None and answer.elapsed_ms > params.budget_ms:
            ctx.findings.append(Finding(
                kind=Kind.STALL, reason=Reason.OVER_BUDGET,
                message=f"{self.describe(params)} answered in {answer.elapsed_ms / 1000:.2f}s "
                        f"(budget {params.budget_ms / 1000:g}s)",
                evidence={**evidence, "duration_ms": round(answer.elapsed_ms, 1), "budget_ms": params.budget_ms},
                cause=Cause.of_request(call.method, call.url, Problem.SLOW, resource_type="fetch", status=answer.status,
                                       ms=answer.elapsed_ms)))


# -- parsing helpers ------------------------------------------------------------------------------------
def _json_path(text: object, path: YamlPath, ctx: ParseContext) -> JsonPath | Invalid:
    if not isinstance(text, str) or not text.startswith("$"):
        return ctx.error(path, f"a JSON path starts with $ (e.g. $.items[0].id), got {text!r}", key=True)
    parts: list[str | int] = []
    pos = 1
    while pos < len(text):
        m = _PATH_PART.match(text, pos)
        if m is None:
            return ctx.error(path, f"{text!r}: only .name, [N] and ['name'] are understood (at {text[pos:]!r})", key=True)
        name, index, quoted, double = m.groups()
        parts.append(int(index) if index is not None else (name or quoted or double or ""))
        pos = m.end()
    return JsonPath(text, tuple(parts))


def _value_test(test: object, path: YamlPath, ctx: ParseContext) -> ValueTest | Invalid:
    if not isinstance(test, dict):
        return ValueTest("equals", test)
    if len(test) != 1 or next(iter(test)) not in ("equals", "number", "matches", "exists"):
        return ctx.error(path, "a test is a value (equals), or one of {equals}, {number: \">= 0\"}, {matches: regex}, "
                               "{exists: true}")
    (how, value), = test.items()
    if how == "exists":
        flag = ctx.boolean(value, path + (how,))
        return INVALID if flag is INVALID else ValueTest(how, flag)
    if how == "matches":
        if not isinstance(value, str):
            return ctx.error(path + (how,), "matches takes a regular expression")
        try:
            re.compile(value)
        except re.error as e:
            return ctx.error(path + (how,), f"not a regular expression: {e}")
        return ValueTest(how, value)
    if how == "number":
        text = str(value).strip()
        op = next((o for o in COMPARISONS if text.startswith(o)), "==")
        expression = text[len(op):].strip() if text.startswith(op) else text
        if "${" not in expression:
            try:
                evaluate(expression)
            except ExpressionError as e:
                return ctx.error(path + (how,), f"expected a comparison such as \">= 0\" or \"< ${{vars.limit}} + 1\": {e}")
        return ValueTest(how, comparison=(op, expression))
    return ValueTest(how, value)


# -- judging ---------------------------------------------------------------------------------------------
def _judge(params: RequestSpec, answer: HttpAnswer) -> tuple[list[str], Problem, Reason]:
    """What is wrong with the answer, the cause's problem, and the finding's reason."""
    wanted = params.status
    if (answer.status not in wanted) if wanted else not 200 <= answer.status < 300:
        expected = " or ".join(map(str, wanted)) if wanted else "2xx"
        problem = Problem.FAILED if answer.status >= 500 else Problem.ERROR
        reason = Reason.HTTP_ERROR if answer.status >= 400 else Reason.EXPECT_FAILED
        return [f"answered HTTP {answer.status}, expected {expected}"], problem, reason
    problems = []
    for name, test in params.header_tests:
        wrong = test.judge(name in answer.headers, answer.headers.get(name))
        if wrong:
            problems.append(f"header {name} {wrong}")
    if params.json_tests:
        try:
            doc = json.loads(answer.body)
        except ValueError:
            problems.append(f"the answer is not JSON ({answer.headers.get('content-type', 'no content type')})")
        else:
            for json_path, test in params.json_tests:
                wrong = test.judge(*json_path.find(doc))
                if wrong:
                    problems.append(f"{json_path.text} {wrong}")
    return [MASKER.mask(p) for p in problems], Problem.ERROR, Reason.WRONG_VALUE


def _store(params: RequestSpec, answer: HttpAnswer, into: dict[str, str]) -> list[str]:
    problems = []
    doc: object = None
    if any(spec.json is not None for _, spec in params.store):
        try:
            doc = json.loads(answer.body)
        except ValueError:
            return ["could not store from the answer: it is not JSON"]
    for name, spec in params.store:
        if spec.json is not None:
            found, value = spec.json.find(doc)
            found = found and value is not None
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            where = spec.json.text
        else:
            assert spec.header is not None
            found, text, where = spec.header in answer.headers, answer.headers.get(spec.header, ""), f"header {spec.header}"
        if not found:
            problems.append(f"could not store '{name}': {where} is not in the answer")
            continue
        if spec.secret:
            MASKER.add(text)
        into[name] = text
    return problems


def _same(got: object, want: object) -> bool:
    if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(got, bool) \
            and not isinstance(want, bool):
        return Decimal(str(got)) == Decimal(str(want))
    return bool(got == want)


def _number(value: object) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    return parse_number(str(value))


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)  # as the answer wrote it: "128460.52" is a string, 128460.52 a number
    return text if len(text) <= 80 else text[:79] + "…"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


# -- evidence: what the report keeps of the call (secrets and credentials masked, bodies clipped) -------
def _shown_headers(headers: dict[str, str]) -> JsonObject:
    return {k: MASK if k.lower() in CREDENTIAL_HEADERS else MASKER.mask(v) for k, v in headers.items()}


def _clipped(body: bytes | str) -> str:
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    text = MASKER.mask(text)
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + f"… ({len(text) - BODY_LIMIT} more characters)"


def _shown_call(call: HttpCall) -> JsonObject:
    shown: JsonObject = {"method": call.method, "url": mask_url(MASKER.mask(call.url)),
                             "headers": _shown_headers(call.headers)}
    if call.has_json:
        shown["body"] = _clipped(json.dumps(call.json, ensure_ascii=False))
    elif call.form is not None:
        shown["body"] = _clipped(json.dumps(call.form, ensure_ascii=False))
    return shown


def _shown_answer(answer: HttpAnswer) -> JsonObject:
    return {"status": answer.status, "url": mask_url(MASKER.mask(answer.url)), "headers": _shown_headers(answer.headers),
            "body": _clipped(answer.body), "duration_ms": round(answer.elapsed_ms, 1)}
