"""Numbers as people write them, and a tiny, safe arithmetic for checks in money
flows (``equals: "${vars.balance} - 12.34"``).

``parse_number`` reads "¥1,234.50", "2,362.46", "-12.34", "−5", "(12.00)", "1.2万"
the way a customer reads them. ``evaluate`` computes + - * / and parentheses over
numbers (Decimal, so 0.1 + 0.2 is 0.3); it is a recursive-descent parser over a
handful of tokens: nothing else is ever executed (no ``eval``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_CURRENCY = "¥￥$€£₩元"
_MINUS = "-−–—"  # hyphen, minus sign, en and em dash as people type them
_SIGN = "[+" + re.escape(_MINUS) + "]"
_NUMBER = re.compile(_SIGN + r"?\(?\s*[" + re.escape(_CURRENCY) + r"]?\s*" + _SIGN +
                     r"?\s*(\d{1,3}(?:,\d{3})+(?!\d)|\d+)(\.\d+)?\s*\)?\s*(万|亿|%)?")
_SCALE = {"万": Decimal(10_000), "亿": Decimal(100_000_000), "%": Decimal("0.01")}


class ExpressionError(ValueError):
    """Not a number, or not an expression Patrol can compute (says where)."""


def parse_number(text: str) -> Decimal:
    """The first number in ``text`` as a person reads it (thousands separators,
    currency signs, a leading minus or accounting parentheses, 万/亿/%)."""
    m = _NUMBER.search(text.replace("\u00a0", " "))
    if m is None:
        raise ExpressionError(f"no number in {text!r}")
    whole, fraction, scale = m.group(1).replace(",", ""), m.group(2) or "", m.group(3)
    value = Decimal(whole + fraction)
    head = m.group(0)
    if any(c in head.split(m.group(1))[0] for c in _MINUS) or (head.lstrip().startswith("(") and head.rstrip().endswith(")")):
        value = -value
    return value * _SCALE[scale] if scale else value


# Numbers as stored values hold them: "1,250.50" (thousands grouped), "¥1,250.50" (a
# currency sign is only decoration here); a comma anywhere else is still refused.
_TOKEN = re.compile(r"\s*[" + re.escape(_CURRENCY) + r"]?\s*(?:(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)|(.))")


def evaluate(expression: str) -> Decimal:
    """``expression`` computed: numbers, + - * /, unary minus, parentheses."""
    tokens: list[str] = []
    for m in _TOKEN.finditer(expression.strip()):
        number, op = m.groups()
        if number is not None:
            tokens.append(number.replace(",", ""))
        elif op is not None and op.strip():
            if op not in "+-*/()":
                raise ExpressionError(f"{op!r} is not allowed in {expression!r}; use numbers, + - * / and ( )")
            tokens.append(op)
    if not tokens:
        raise ExpressionError("an empty expression")
    parser = _Parser(tokens, expression)
    value = parser.sum()
    if parser.pos != len(tokens):
        raise ExpressionError(f"unexpected {tokens[parser.pos]!r} in {expression!r}")
    return value


class _Parser:
    def __init__(self, tokens: list[str], text: str):
        self.tokens, self.pos, self.text = tokens, 0, text

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ExpressionError(f"{self.text!r} ends too early")
        self.pos += 1
        return token

    def sum(self) -> Decimal:
        value = self.product()
        while self._peek() in ("+", "-"):
            value = value + self.product() if self._take() == "+" else value - self.product()
        return value

    def product(self) -> Decimal:
        value = self.unary()
        while self._peek() in ("*", "/"):
            op, right = self._take(), self.unary()
            if op == "*":
                value *= right
            elif right == 0:
                raise ExpressionError(f"division by zero in {self.text!r}")
            else:
                value /= right
        return value

    def unary(self) -> Decimal:
        if self._peek() == "-":
            self._take()
            return -self.unary()
        if self._peek() == "+":
            self._take()
            return self.unary()
        token = self._take()
        if token == "(":
            value = self.sum()
            if self._peek() != ")":
                raise ExpressionError(f"a '(' is not closed in {self.text!r}")
            self._take()
            return value
        try:
            return Decimal(token)
        except InvalidOperation:
            raise ExpressionError(f"unexpected {token!r} in {self.text!r}") from None
