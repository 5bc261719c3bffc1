"""The demo bank's fixed data: same every run, so the same screen gives the same pixels."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypedDict

from ..core.jsontypes import JsonValue

DEMO_USER = "demo"
DEFAULT_PASSWORD = "patrol-demo-2026"

BANK_NAME = "巡航银行"


class Account(TypedDict):
    name: str
    account_no: str
    total_assets: Decimal


ACCOUNT: Account = {
    "name": "张晓明",
    "account_no": "6217 **** **** 4821",
    "total_assets": Decimal("128460.52"),
}

# Cards every session starts with (transfer sources). Numbers pass the Luhn check.
BASE_CARDS = [
    {"id": "icbc-3307", "bank": "工商银行", "last4": "3307", "holder": "张晓明"},
    {"id": "cmb-5566", "bank": "招商银行", "last4": "5566", "holder": "张晓明"},
]

FUNDS = [
    {"code": "880001", "name": "巡航稳健债券A", "type": "债券型", "nav": "1.0832", "change": "+0.05%",
     "risk": "中低风险",
     "description": "主要投资于国债、政策性金融债和高等级信用债，追求稳健的长期回报，适合稳健型投资者。"},
    {"code": "880002", "name": "巡航科技成长混合", "type": "混合型", "nav": "2.3415", "change": "+1.26%",
     "risk": "中高风险",
     "description": "聚焦科技创新领域的成长型企业，精选具有核心竞争力的上市公司，力争获取超额收益。"},
    {"code": "880003", "name": "巡航沪深300指数", "type": "指数型", "nav": "1.5620", "change": "-0.38%",
     "risk": "中风险",
     "description": "紧密跟踪沪深300指数，费率低廉、持仓透明，适合长期定投的核心资产配置。"},
    {"code": "880004", "name": "巡航货币A", "type": "货币型", "nav": "1.0000", "change": "+0.01%",
     "risk": "低风险",
     "description": "投资于短期货币市场工具，流动性好，随取随用，适合存放日常零钱。"},
]
FUNDS_BY_CODE = {f["code"]: f for f in FUNDS}
MIN_PURCHASE = Decimal("10")

BENEFITS = [
    {"id": "b101", "title": "新客专享 5 元话费券", "detail": "充值话费满 50 元可用，有效期 30 天"},
    {"id": "b102", "title": "理财体验金 888 元", "detail": "体验期 7 天，收益归您所有"},
    {"id": "b103", "title": "视频会员月卡", "detail": "领取后在「我的权益」中兑换"},
]
BENEFITS_BY_ID = {b["id"]: b for b in BENEFITS}

TRANSFER_LIMIT = Decimal("50000")


def nav_points() -> list[JsonValue]:
    """90 trading days of a made-up fund's net value: a deterministic gentle climb."""
    points: list[JsonValue] = []
    for i in range(90):
        v = 1.0 + 0.0025 * i + 0.035 * math.sin(i / 6.0) + 0.012 * math.sin(i / 1.7)
        points.append({"day": i + 1, "value": round(v, 4)})
    return points


def luhn_ok(number: str) -> bool:
    """Luhn check on a digit string (12-19 digits)."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def parse_amount(value: object) -> Decimal | None:
    """A positive money amount with at most 2 decimals, or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite() or d <= 0 or d != d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
        return None
    return d.quantize(Decimal("0.01"))


def money(d: Decimal) -> str:
    """Decimal -> "1234.50" (what the API sends; the page formats it)."""
    return str(d.quantize(Decimal("0.01")))
