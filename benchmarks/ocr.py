"""How long Patrol takes to read a screen (Tesseract OCR of a step's screenshot).

Renders a realistic 1280x800 banking page (Chinese and English, a red header with
a white active tab, buttons, a grey-caption card, a table, error lines, a dark
card) in real headless Chromium, then times:

- a 400x120 region of it (what a region check or a DOM-guided read of one label
  costs), and the whole screen;
- the same page on a phone (390x844 at device scale 3, 1170x2532 pixels);

cold (the caches off: Tesseract reads), by the in-process engine and by the
command line (pytesseract, what Patrol used before), alternated in one run; and
warm: the same pixels read on an earlier run, from the persistent cache on disk
(``patrol.ocr.cache``) and from the in-memory one. It prints the median per step
over ``--runs`` runs, the load average, and how many of the page's labels were
read (found by ``patrol.ocr.find`` with its centre on the label's DOM box).

``--corpus`` measures accuracy instead, on the corpus the engine's settings were
chosen on: every page of the demo bank (login, home, funds, a fund, transfer,
bind card, benefits) on a 1280x800 desktop and a 390x844 phone at scale 3, and
the benchmark page in light and dark mode. A label counts as read when
``find(result, label)`` matches with its centre on the label's DOM box. ``--psm``,
``--psm-small``, ``--no-reread``, ``--gamma``, ``--upscale`` and ``--invert-retry`` change the engine's
settings, to compare; ``--regions N`` also reads N labels per screen from small regions
around them (the label padded by 8 CSS px); ``-v`` lists the labels missed.
``PATROL_OCR_BACKEND=cli`` reads with the command line instead of the in-process
engine (the words are the same).

``--corpus phrases`` compares the two OCR engines instead: 64 app-like phrases of
our own (amounts, dates, labels, buttons, masked numbers; Chinese and English) in
five app styles (card text, small grey captions, white text on small coloured
buttons, dark mode, list rows), on a 1280x800 desktop at scale 1 and a 390x844 phone
at scale 2, each screen read by Tesseract and by RapidOCR (caches off). It prints,
per set, the labels each engine read, the labels ``ocr: {engine: both}`` reads
(Tesseract, and RapidOCR's reading of the screen when Tesseract missed any), and the
CPU time (process time) of the reads, the models already loaded; it exits 1 unless
``both`` reads at least as many labels as the better engine on every set.

    .venv/bin/python benchmarks/ocr.py [--runs 5]
    .venv/bin/python benchmarks/ocr.py --corpus [--regions 10] [--psm 3] [--no-reread] [-v]
    .venv/bin/python benchmarks/ocr.py --corpus phrases [-v] [--rapid-upscale 1] [--only desktop]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from patrol.core.geometry import Box, Region  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;font-family:"Noto Sans CJK SC",sans-serif;background:#f3f4f7;color:#1f2430}
header{background:#c62828;color:#fff;padding:0 40px;height:60px;display:flex;align-items:center;justify-content:space-between}
header b{font-size:20px} nav span{margin-left:26px;font-size:15px} nav .on{background:#fff;color:#c62828;padding:6px 14px;border-radius:4px}
main{display:flex;gap:20px;padding:20px 40px}
.col{flex:1} .card{background:#fff;border-radius:8px;padding:16px 20px;margin-bottom:16px}
.cap{font-size:12px;color:#8a8f99} .big{font-size:30px;font-weight:600}
.btn{display:inline-block;padding:8px 18px;border-radius:4px;font-size:15px;margin-right:10px}
.red{background:#e53935;color:#fff} .line{border:1px solid #1d3a8a;color:#1d3a8a}
table{width:100%;border-collapse:collapse;font-size:13px} td,th{padding:7px 4px;border-bottom:1px solid #eee;text-align:left}
.err{color:#d32f2f;font-size:14px;margin:4px 0} .en{font-size:13px;color:#555}
.dark{background:#1e1f24;color:#e8e8e8;border-radius:8px;padding:14px 20px;font-size:14px}
@media (max-width:600px){header{padding:0 16px;height:auto;display:block;padding:10px 16px} nav{display:flex;flex-wrap:wrap}
 nav span{margin:8px 14px 0 0} main{display:block;padding:12px 16px}}
</style></head><body>
<header><b>巡航银行</b><nav><span class="on">首页</span><span>基金</span><span>转入资金</span><span>绑定银行卡</span>\
<span>权益领取</span><span>Help Center</span></nav></header>
<main><div class="col">
 <div class="card"><div class="cap">总资产（元）</div><div class="big">¥ 128,460.52</div>
  <div class="cap">昨日收益 +12.35 · 累计收益 3,210.08</div>
  <div style="margin-top:12px"><span class="btn red">转入资金</span><span class="btn line">绑定银行卡</span></div></div>
 <div class="card"><table><tr><th>日期</th><th>交易类型</th><th>金额</th><th>状态</th></tr>
  <tr><td>2024-05-01</td><td>工资代发</td><td>+15,000.00</td><td>成功</td></tr>
  <tr><td>2024-05-03</td><td>信用卡还款</td><td>-3,280.40</td><td>处理中</td></tr>
  <tr><td>2024-05-06</td><td>基金申购</td><td>¥ NaN</td><td>失败</td></tr></table></div>
</div><div class="col">
 <div class="card"><div class="err">卡号无效，请检查后重新输入</div><div class="err">系统繁忙，请稍后再试 (Error code: 503)</div>
  <div class="en">Internal Server Error — request id 7f3a-91bc</div></div>
 <div class="card"><div style="font-size:18px;font-weight:600">权益领取</div><div class="cap">会员专享权益，每项限领一次</div>
  <div style="margin-top:8px;font-size:15px">新客专享 5 元话费券 <span class="btn red" style="float:right">立即领取</span></div>
  <div class="cap">充值话费满 50 元可用，有效期 30 天</div></div>
 <div class="dark">夜间模式提示：您的账户已开启登录保护 · Two-factor authentication enabled</div>
</div></main></body></html>"""

LABELS_JS = """() => { const out = []; const d = devicePixelRatio;
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); let n;
  while ((n = w.nextNode())) { const t = n.textContent.trim(); if (!t) continue;
    const r = document.createRange(); r.selectNodeContents(n); const b = r.getBoundingClientRect();
    if (b.width < 2 || b.bottom > innerHeight) continue;
    out.push({text: t, box: [b.x * d, b.y * d, b.width * d, b.height * d]}); }
  return out; }"""


def shoot(width: int, height: int, scale: float) -> tuple[bytes, list[dict]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=scale)
        page.set_content(PAGE)
        page.evaluate("document.fonts.ready")
        png = page.screenshot()
        labels = page.evaluate(LABELS_JS)
        browser.close()
    return png, labels


def labels_read(result, labels) -> tuple[int, int, list[str]]:
    """How many labels ``find`` matches with its centre on the label's DOM box (or on
    another label holding the same words: 基金 is in the menu and in 基金申购)."""
    from patrol.ocr import find, normalize

    labels = [lb for lb in labels if any(c.isalnum() for c in lb["text"])]
    missed = []
    for label in labels:
        needle = normalize(label["text"])
        m = find(result, needle)
        spots = [lb["box"] for lb in labels if needle.replace(" ", "") in normalize(lb["text"]).replace(" ", "")]
        if m is None or not any(x - 4 <= m.center[0] <= x + w + 4 and y - 4 <= m.center[1] <= y + h + 4
                                for x, y, w, h in spots):
            missed.append(needle)
    return len(labels) - len(missed), len(labels), missed


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


DEMO_PAGES = ["/login", "/home", "/funds", "/funds/880001", "/transfer", "/cards/bind", "/benefits"]
DARK = ("body{background:#121212!important;color:#ddd!important} .card{background:#1e1f24!important}"
        " td,th{border-color:#333!important} .cap,.en{color:#9a9a9a!important}")


def corpus() -> list[tuple[str, bytes, list[dict]]]:
    """(name, PNG, labels) of every corpus screen."""
    from playwright.sync_api import sync_playwright

    from patrol.demo.server import DemoBank

    shots = []
    with DemoBank(port=0, password="bench") as bank, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for device, options in [
            ("desktop", {"viewport": {"width": 1280, "height": 800}}),
            ("phone", {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True}),
        ]:
            ctx = browser.new_context(**options)
            page = ctx.new_page()
            for path in DEMO_PAGES:
                if path == "/home":  # log in on the way
                    page.fill("#username", "demo")
                    page.fill("#password", "bench")
                    page.click("#login-submit")
                    page.wait_for_url("**/home")
                else:
                    page.goto(bank.url + path)
                if path != "/login":
                    page.wait_for_selector("#content", state="visible")
                page.wait_for_timeout(300)
                shots.append((f"{device} {path}", page.screenshot(), page.evaluate(LABELS_JS)))
            ctx.close()
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_content(PAGE)
        shots.append(("desktop benchmark page", page.screenshot(), page.evaluate(LABELS_JS)))
        page.add_style_tag(content=DARK)
        shots.append(("desktop benchmark page, dark", page.screenshot(), page.evaluate(LABELS_JS)))
        browser.close()
    return shots


def accuracy(verbose: bool, regions: int, settings) -> None:
    import random

    from patrol.ocr import engine, find, normalize
    from patrol.ocr import read as read_with

    def read(image, **kwargs):
        return read_with(image, settings=settings, **kwargs)

    total_found = total = region_found = region_total = 0
    times = []
    for name, png, labels in corpus():
        t0 = time.perf_counter()
        result = read(png, cache=False)
        times.append(time.perf_counter() - t0)
        found, count, missed = labels_read(result, labels)
        total_found += found
        total += count
        line = f"{name:32s} {found:3d}/{count:<3d} {times[-1]:5.2f} s"
        if regions:
            # Small regions: a label padded by 8 CSS px, read alone (a DOM-guided read).
            image = engine.to_rgb(png)
            height, width = image.shape[:2]
            pad = 8 * engine.pixel_density(width, height)
            short = [lb for lb in labels if any(c.isalnum() for c in lb["text"]) and len(lb["text"]) < 20
                     and lb["box"][1] + lb["box"][3] <= height]
            ok = 0
            picked = random.Random(1).sample(short, min(regions, len(short)))
            for label in picked:
                x, y, w, h = label["box"]
                x0, y0 = max(0, x - pad), max(0, y - pad)
                region = Region.px(x0, y0, min(width, x + w + pad) - x0, min(height, y + h + pad) - y0).resolve(width, height)
                m = find(read(image, region=region, cache=False), normalize(label["text"]))
                if m and x - 4 <= m.center[0] <= x + w + 4 and y - 4 <= m.center[1] <= y + h + 4:
                    ok += 1
                elif verbose:
                    missed.append(f"(region) {label['text']}")
            region_found += ok
            region_total += len(picked)
            line += f"   regions {ok}/{len(picked)}"
        print(line, flush=True)
        if verbose and missed:
            print("    missed: " + " | ".join(missed))
    if region_total:
        print(f"\nsmall regions: {region_found}/{region_total} labels read")
    print(f"\nlabels read: {total_found}/{total} ({100 * total_found / total:.1f}%); "
          f"median {statistics.median(times):.2f} s per screen; psm {settings.psm}, "
          f"re-read {'on' if settings.reread_suspects else 'off'}, gamma {settings.gamma}")


# ---------------------------------------------------------------- the phrase corpus (two engines)

# 64 app-like phrases of our own (not from any product): amounts, dates, labels,
# buttons, messages, masked numbers; Chinese with look-alike glyphs (门/内, 别/別,
# 间/问) and English UI text.
PHRASES = [
    "账户余额", "可用余额 ¥3,560.20", "冻结金额 ¥0.00", "本月支出 ¥12,480.75", "待还金额 ¥1,288.00",
    "昨日收益 +8.62", "累计收益 ¥2,031.47", "七日年化 2.315%", "2025年3月18日", "2025-11-02 14:36",
    "还款日 每月8日", "有效期至 2026/06/30", "立即还款", "确认转账", "取消订单", "查看详情", "修改登录密码",
    "退出登录", "联系客服", "我的银行卡", "交易明细", "消息中心", "安全中心", "设置支付密码", "实名认证已通过",
    "手机号 138****5621", "验证码已发送", "余额不足，请充值", "网络连接失败", "订单已关闭", "部门预算审批",
    "门店地址", "别名设置", "闭门维护公告", "间隔时间 5 分钟", "定期存款 三个月", "风险等级 R2",
    "基金定投计划", "信用卡账单分期", "积分兑换", "优惠券 满100减20", "单笔限额 5万元", "收款人姓名",
    "开户行 招商银行", "Balance", "Available: $1,204.50", "Pending", "Transfer now", "Cancel",
    "Last updated 09:41", "Due Mar 18, 2025", "Card **** 0431", "Sign out", "Privacy Policy",
    "Version 3.12.0", "Order #A7F3-2291", "Interest rate 3.85% APR", "Terms apply", "Save changes",
    "Two-factor authentication", "Forgot password?", "Retry", "12 items selected", "Total: ¥86.00",
]

# Five app styles: (name, CSS for the page and its labels).
STYLES = [
    ("card text 15px", "body{background:#f3f4f7} .l{font-size:15px;color:#222;background:#fff;padding:2px 8px;border-radius:6px}"),
    ("grey caption 12px", "body{background:#f5f6f8} .l{font-size:12px;color:#9a9ea6}"),
    ("button 14px", ".l{font-size:14px;color:#fff;background:#e53935;padding:3px 10px;border-radius:4px}"
                    " .c:nth-child(even) .l{background:#1677ff}"),
    ("dark mode 14px", "body{background:#121316} .l{font-size:14px;color:#c9cbd1;background:#1e1f24;padding:2px 8px}"),
    ("list row 13px", "body{background:#fff} .c{border-bottom:1px solid #e6e6e6} .l{font-size:13px;color:#666}"),
]


def phrase_page(css: str, phrases: list[str], columns: int, row_px: int) -> str:
    cells = "".join(f'<div class="c"><span class="l">{p}</span></div>' for p in phrases)
    return ('<!doctype html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><style>'
            'body{margin:0;padding:10px 12px;font-family:"Noto Sans CJK SC",sans-serif}'
            f'.g{{display:grid;grid-template-columns:repeat({columns},1fr);column-gap:16px}}'
            f'.c{{height:{row_px}px;display:flex;align-items:center;white-space:nowrap;overflow:hidden}}'
            f'{css}</style></head><body><div class="g">{cells}</div></body></html>')


def phrase_corpus(only: str | None = None) -> list[tuple[str, str, bytes, list[dict]]]:
    """(device, style, PNG, labels): each style on a 1280x800 desktop at scale 1 (the
    64 phrases in 4 columns) and on a 390x844 phone at scale 2 (three screens of 21-22)."""
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for device, options, pages in [
            ("1x desktop", {"viewport": {"width": 1280, "height": 800}}, [(PHRASES, 4, 48)]),
            ("2x phone", {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True},
             [(PHRASES[:22], 1, 36), (PHRASES[22:43], 1, 36), (PHRASES[43:], 1, 36)]),
        ]:
            if only and only not in device:
                continue
            ctx = browser.new_context(**options)
            page = ctx.new_page()
            for style, css in STYLES:
                for phrases, columns, row_px in pages:
                    page.set_content(phrase_page(css, phrases, columns, row_px))
                    page.evaluate("document.fonts.ready")
                    labels = page.evaluate(LABELS_JS)
                    assert len(labels) == len(phrases), (device, style, len(labels))
                    shots.append((device, style, page.screenshot(), labels))
            ctx.close()
        browser.close()
    return shots


def engine_accuracy(verbose: bool, only: str | None = None) -> None:
    """Labels read and CPU per engine, and for ``both`` (Tesseract; RapidOCR asked for
    the labels Tesseract did not find, as the text check and click-by-text do)."""
    from patrol.ocr import engine, normalize, rapid
    from patrol.ocr import read as ocr_read

    assert len(PHRASES) >= 60
    t0 = time.process_time()
    engine.warm_up("chi_sim+eng")
    ocr_read(shoot_blank(), cache=False)  # loads Tesseract's models
    t1 = time.process_time()
    rapid._load()
    t2 = time.process_time()
    print(f"model load, CPU: tesseract {t1 - t0:.2f} s, rapidocr {t2 - t1:.2f} s (once per process, not counted below)")
    shots = phrase_corpus(only)
    sets: dict[tuple[str, str], dict[str, float]] = {}
    for device, style, png, labels in shots:
        row = sets.setdefault((device, style), {"n": 0.0, "t": 0.0, "r": 0.0, "b": 0.0, "t_cpu": 0.0, "r_cpu": 0.0,
                                                 "b_cpu": 0.0})
        results, cpu = {}, {}
        for name in engine.ENGINES:
            c0 = time.process_time()
            results[name] = ocr_read(png, cache=False, engine=name)
            cpu[name] = time.process_time() - c0
        spots_all = [lb for lb in labels if any(c.isalnum() for c in lb["text"])]
        read_by: dict[str, set[str]] = {name: set() for name in engine.ENGINES}
        for name, result in results.items():
            _, _, missed = labels_read(result, labels)
            read_by[name] = {normalize(lb["text"]) for lb in spots_all} - set(missed)
        # both: Tesseract, then RapidOCR for what it did not find (on the same screen,
        # read once by RapidOCR when anything was missing).
        both = set(read_by["tesseract"])
        needs_rapid = len(both) < len(spots_all)
        if needs_rapid:
            both |= read_by["rapidocr"]
        row["n"] += len(spots_all)
        row["t"] += len(read_by["tesseract"])
        row["r"] += len(read_by["rapidocr"])
        row["b"] += len(both)
        row["t_cpu"] += cpu["tesseract"]
        row["r_cpu"] += cpu["rapidocr"]
        row["b_cpu"] += cpu["tesseract"] + (cpu["rapidocr"] if needs_rapid else 0.0)
        if verbose:
            for name in engine.ENGINES:
                missed = sorted({normalize(lb["text"]) for lb in spots_all} - read_by[name])
                if missed:
                    print(f"  {device}, {style}: {name} missed " + " | ".join(missed))
    head = ("set", "labels", "tesseract", "rapidocr", "both", "CPU tesseract", "CPU rapidocr", "CPU both")
    rows, totals = [], {}
    ok = True
    for (device, style), row in sets.items():
        better = max(row["t"], row["r"])
        ok = ok and row["b"] >= better
        rows.append((f"{device}, {style}", f"{row['n']:.0f}", f"{row['t']:.0f}", f"{row['r']:.0f}", f"{row['b']:.0f}",
                     f"{row['t_cpu']:.2f} s", f"{row['r_cpu']:.2f} s", f"{row['b_cpu']:.2f} s"))
        total = totals.setdefault(device, dict.fromkeys(row, 0.0))
        for k, v in row.items():
            total[k] += v
    for device, row in totals.items():
        ok = ok and row["b"] >= max(row["t"], row["r"])
        rows.append((f"**{device}, all**", f"{row['n']:.0f}", f"{row['t']:.0f}", f"{row['r']:.0f}", f"{row['b']:.0f}",
                     f"{row['t_cpu']:.2f} s", f"{row['r_cpu']:.2f} s", f"{row['b_cpu']:.2f} s"))
    print()
    print(f"{len(PHRASES)} phrases x {len(STYLES)} styles; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"rapidocr upscale at 1x: {rapid.UPSCALE_1X}; CPU = process time of the reads (models loaded)")
    print()
    table(head, rows)
    print()
    print(f"both reads at least as many labels as the better engine alone on every set: {'yes' if ok else 'NO'}")
    if not ok:
        raise SystemExit(1)


def shoot_blank() -> bytes:
    """A small white PNG with a word on it, to load the engines' models."""
    import cv2
    import numpy as np

    img = np.full((60, 200, 3), 255, np.uint8)
    cv2.putText(img, "Patrol", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    ok, buf = cv2.imencode(".png", img)
    return bytes(buf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--corpus", nargs="?", const="demo", choices=("demo", "phrases"),
                    help="measure accuracy instead of speed: on the demo bank's screens (demo, the default), "
                         "or on 64 phrases in five app styles with each OCR engine and both (phrases)")
    ap.add_argument("--rapid-upscale", type=float, help="with --corpus phrases: RapidOCR's upscale at scale 1")
    ap.add_argument("--only", choices=("desktop", "phone"), help="with --corpus phrases: one device's screens")
    ap.add_argument("--psm", type=int, help="Tesseract page segmentation mode for screens (default: the engine's)")
    ap.add_argument("--psm-small", type=int, help="page segmentation mode for small regions (default: the engine's)")
    ap.add_argument("--no-reread", action="store_true", help="do not re-read suspect Latin words with chi_sim")
    ap.add_argument("--gamma", type=float, help="gamma after background flattening (1 = none)")
    ap.add_argument("--upscale", type=float, help="upscale factor for scale-1 screenshots")
    ap.add_argument("--invert-retry", action="store_true", help="let Tesseract read weak lines again inverted")
    ap.add_argument("--regions", type=int, default=0, metavar="N",
                    help="with --corpus: also read N labels per screen from small regions around them")
    ap.add_argument("-v", action="store_true", help="list the labels missed")
    args = ap.parse_args()

    import dataclasses

    from patrol.ocr import DEFAULT_SETTINGS

    # The alternatives are settings passed in, never changes to the engine's module.
    changes = {"psm": args.psm, "psm_small": args.psm_small, "gamma": args.gamma, "upscale": args.upscale,
               "reread_suspects": False if args.no_reread else None, "invert_retry": True if args.invert_retry else None}
    settings = dataclasses.replace(DEFAULT_SETTINGS, **{k: v for k, v in changes.items() if v is not None})
    if args.corpus == "phrases":
        if args.rapid_upscale:
            from patrol.ocr import rapid

            rapid.UPSCALE_1X = args.rapid_upscale
        engine_accuracy(args.v, args.only)
        return
    if args.corpus:
        accuracy(args.v, args.regions, settings)
        return

    speed(settings, args.runs)


def speed(settings, runs: int) -> None:
    """Cold reads (cache off) by the in-process engine and by the command line,
    alternated; warm reads (the persistent cache, and the in-memory one); labels read."""
    from patrol.core.png import decode_png
    from patrol.ocr import tess

    desktop_png, desktop_labels = shoot(1280, 800, 1)
    phone_png, phone_labels = shoot(390, 844, 3)
    desktop, phone = decode_png(desktop_png), decode_png(phone_png)  # RGBA, as a step's screenshot
    region = Box(40, 80, 400, 120)  # the balance card: caption, amount, caption
    region_labels = [lb for lb in desktop_labels
                     if region[0] <= lb["box"][0] and lb["box"][0] + lb["box"][2] <= region[0] + region[2]
                     and region[1] <= lb["box"][1] and lb["box"][1] + lb["box"][3] <= region[1] + region[3]]
    load_ms = {}
    for lang in ("chi_sim+eng", "chi_sim"):  # what a process pays once, on its first read
        t0 = time.perf_counter()
        tess._pool.release(lang, tess._pool.acquire(lang))
        load_ms[lang] = (time.perf_counter() - t0) * 1000
    cases = [
        ("desktop, region 400x120", desktop, {"region": region}, region_labels),
        ("desktop 1280x800, full screen", desktop, {}, desktop_labels),
        ("phone 1170x2532 (390x844 @3), full", phone, {}, phone_labels),
    ]
    rows = [measure(name, image, kwargs, labels, settings, runs) for name, image, kwargs, labels in cases]
    tesseract = f"tesseract {tess.version('library')}" if tess.backend() == "library" else tess.version("cli")
    print()
    print(f"{tesseract}; python {platform.python_version()}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}; "
          f"OMP_THREAD_LIMIT={os.environ.get('OMP_THREAD_LIMIT')}; medians of {runs} runs, in-process engine and "
          f"command line alternated")
    print()
    head = ("step", "cold ms (now)", "cold ms (before: command line)", "tesseract calls", "warm ms (disk cache)",
            "warm ms (memory)", "labels read")
    table(head, rows)
    print()
    print("cold: the cache off, Tesseract reads. Now: in-process, models already loaded (once per process: "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in load_ms.items()) + "), no inverted retry. Before: the command "
          "line, which loads them on every call, with Tesseract's inverted retry of weak lines (the same words).")
    print("warm (disk cache): the same pixels read on an earlier run, from a new OcrStore on the same folder, "
          "the in-memory cache cleared: hashing the region's RGBA pixels, the lookup and the JSON.")
    print("'tesseract calls' > 1: a second call re-read low-confidence Latin words with chi_sim alone.")


def measure(name, image, kwargs, labels, settings, runs: int) -> tuple[str, ...]:
    import dataclasses
    import tempfile

    from patrol.ocr import OcrStore, engine
    from patrol.ocr import read as read_with

    def read(**more):
        return read_with(image, settings=more.pop("settings", settings), **kwargs, **more)

    # Before: the command line, with Tesseract's inverted retry of weak lines.
    before = dataclasses.replace(settings, invert_retry=True)
    read(cache=False)  # the page cache warm for both
    lib_ms, cli_ms, result = [], [], None
    calls = engine.stats["tesseract_calls"]
    for _ in range(runs):
        for backend, times, how in (("", lib_ms, settings), ("cli", cli_ms, before)):
            os.environ["PATROL_OCR_BACKEND"] = backend
            t0 = time.perf_counter()
            out = read(cache=False, settings=how)
            times.append((time.perf_counter() - t0) * 1000)
            if not backend:
                result = out
    os.environ.pop("PATROL_OCR_BACKEND", None)
    calls = (engine.stats["tesseract_calls"] - calls) / (2 * runs)
    with tempfile.TemporaryDirectory() as folder:
        read(store=OcrStore(folder))  # an earlier run
        engine.clear_cache()
        store = OcrStore(folder)  # this run's
        disk_ms = []
        for _ in range(max(runs, 20)):
            engine.clear_cache()
            t0 = time.perf_counter()
            read(store=store)
            disk_ms.append((time.perf_counter() - t0) * 1000)
        memory_ms, _ = timed(lambda: read(store=store), max(runs, 20))
        assert store.stats["hits"] >= 20, store.stats
    found, total, _ = labels_read(result, labels)
    return (name, f"{statistics.median(lib_ms):.0f}", f"{statistics.median(cli_ms):.0f}", f"{calls:.1f}",
            f"{statistics.median(disk_ms):.1f}", f"{memory_ms:.2f}", f"{found}/{total}")


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    for k, r in enumerate([head] + rows):
        print("| " + " | ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


if __name__ == "__main__":
    main()
