"""Numbers as customers read them, and the small arithmetic money checks need."""

from __future__ import annotations

from decimal import Decimal

import pytest

from patrol.journey.expressions import ExpressionError, evaluate, parse_number


@pytest.mark.parametrize("text, value", [
    ("¥1,234.50", "1234.50"), ("2,362.46", "2362.46"), ("-12.34", "-12.34"), ("−5", "-5"),
    ("(12.00)", "-12.00"), ("1.2万", "12000"), ("3亿", "300000000"), ("12%", "0.12"),
    ("总资产 ¥ 2,362.46 元", "2362.46"), ("- ¥ 3.5", "-3.5"), ("￥88", "88"), ("余额：1,000,000.01", "1000000.01"),
    ("1234567", "1234567"),
])
def test_numbers_are_read_as_people_write_them(text, value):
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "NaN", "¥ --", "暂无数据"])
def test_no_number_is_a_clear_error(text):
    with pytest.raises(ExpressionError, match="no number"):
        parse_number(text)


@pytest.mark.parametrize("expression, value", [
    ("2362.46 - 12.34", "2350.12"), ("0.1 + 0.2", "0.3"), ("(1 + 2) * 3", "9"), ("-4 / 2", "-2"),
    ("1 - -1", "2"), ("100 * 1.05 - 5", "100.00"), ("((2))", "2"),
])
def test_arithmetic_is_exact_decimal(expression, value):
    assert evaluate(expression) == Decimal(value)


@pytest.mark.parametrize("expression, words", [
    ("__import__('os')", "not allowed"), ("1 +", "ends too early"), ("(1 + 2", "not closed"),
    ("1 / 0", "division by zero"), ("2 3", "unexpected '3'"), ("", "empty"), ("1 ** 2", "unexpected '*'"),
])
def test_anything_else_is_refused_with_words_never_run(expression, words):
    with pytest.raises(ExpressionError, match=words.replace("(", r"\(").replace("*", r"\*")):
        evaluate(expression)


def test_stored_values_as_people_write_them_take_part_in_arithmetic():
    assert evaluate("1,250.50 + 1") == Decimal("1251.50")
    assert evaluate("¥128,460.52 - 12.34") == Decimal("128448.18")
    with pytest.raises(ExpressionError):
        evaluate("1,25 + 1")  # not a thousands group: a typo, not a number
