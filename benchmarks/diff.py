"""Benchmark Patrol's image comparator against pixelmatch 7.2.0 and odiff 4.5.

    .venv/bin/python benchmarks/diff.py [--runs 30] [--png-runs 11] [--source auto|chromium|synthetic] [--keep DIR]

A script, not a test.  It

* installs its peers (pixelmatch, pngjs, odiff-bin from benchmarks/package.json)
  into benchmarks/node_modules with `npm install --prefix benchmarks` when they
  are missing;
* builds realistic image pairs: a 1920x1080 dashboard screenshot and a
  1280x8000 full-page screenshot, each (a) with one changed number in a text
  area and (b) identical pixels.  With --source auto it renders an HTML page in
  Chromium through Playwright when both are available, and otherwise draws a
  page-like image with OpenCV (text, lines, boxes, gradients);
* times, several runs each, median reported (on a shared machine the tools are
  interleaved so that drift hits them alike):
  - Patrol `compare()` on decoded RGBA arrays vs pixelmatch() on decoded RGBA
    buffers (a Node script reads the PNGs once with pngjs and times only the
    pixelmatch() call);
  - Patrol from PNG files (read + decode + compare, + diff image written as PNG
    with diff_png() when the images differ) vs the odiff CLI per run (process
    start, decode, compare, diff PNG written when they differ).
  For the "identical" rows the second PNG is a re-encoding with different
  bytes, so Patrol cannot take its byte-equal shortcut there; the shortcut is
  timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from patrol.core.png import decode_png, encode_png  # noqa: E402
from patrol.visual.compare import compare, diff_png  # noqa: E402

NODE_MODULES = HERE / "node_modules"
THRESHOLD = 0.1

PIXELMATCH_WORKER = r"""
// pixelmatch timing worker: one JSON command per stdin line, one JSON answer per line.
//   {"cmd": "load", "name", "a", "b"}          decode both PNGs once (pngjs), not timed
//   {"cmd": "time", "name", "runs", "threshold"} time only the pixelmatch() calls
import fs from 'node:fs';
import readline from 'node:readline';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const modulesDir = process.argv[2];
const require = createRequire(path.join(modulesDir, 'noop.js'));
const { PNG } = require('pngjs');
const pixelmatch = (await import(pathToFileURL(path.join(modulesDir, 'pixelmatch', 'index.js')).href)).default;
const version = JSON.parse(fs.readFileSync(path.join(modulesDir, 'pixelmatch', 'package.json'))).version;
const images = new Map();
console.log(JSON.stringify({ ready: true, version, node: process.version }));

for await (const line of readline.createInterface({ input: process.stdin })) {
  const msg = JSON.parse(line);
  if (msg.cmd === 'load') {
    images.set(msg.name, [PNG.sync.read(fs.readFileSync(msg.a)), PNG.sync.read(fs.readFileSync(msg.b))]);
    console.log(JSON.stringify({ ok: true }));
  } else if (msg.cmd === 'time') {
    const [a, b] = images.get(msg.name);
    const opts = { threshold: msg.threshold };
    const times = [];
    let count = 0;
    for (let i = 0; i < msg.runs; i++) {
      const t0 = process.hrtime.bigint();
      count = pixelmatch(a.data, b.data, null, a.width, a.height, opts);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    console.log(JSON.stringify({ times, count }));
  }
}
"""


# --------------------------------------------------------------------------
# peers


def _package_version(name: str) -> str | None:
    pkg = NODE_MODULES / name / "package.json"
    if not pkg.is_file():
        return None
    return json.loads(pkg.read_text()).get("version")


def ensure_peers() -> None:
    """npm install the peers from benchmarks/package.json when node_modules lacks them."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("diff.py needs node and npm on PATH for the pixelmatch / odiff peers")
    if all(_package_version(p) for p in ("pixelmatch", "pngjs", "odiff-bin")):
        return
    print("installing benchmark peers: npm install --prefix benchmarks ...", flush=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(HERE), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )


def odiff_binary() -> Path:
    """The native odiff executable (not the Node wrapper in .bin, which would add Node's start-up)."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "riscv64": "riscv64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, sys.platform)
    exe = "odiff.exe" if system == "win32" else "odiff"
    native = NODE_MODULES / "@odiff" / f"{system}-{arch}" / exe
    if native.is_file():
        return native
    wrapper = NODE_MODULES / ".bin" / "odiff"
    if wrapper.exists():
        return wrapper
    sys.exit(f"odiff binary not found under {NODE_MODULES}")


# --------------------------------------------------------------------------
# images

PAGE_CSS = """
* { box-sizing: border-box; }
html, body { margin: 0; font-family: 'DejaVu Sans', Arial, sans-serif; color: #1f2933; background: #f5f7fa; }
body { width: %(w)dpx; height: %(h)dpx; overflow: hidden; }
header { height: 64px; background: linear-gradient(90deg, #243b55, #141e30); color: white;
         display: flex; align-items: center; padding: 0 24px; font-size: 20px; font-weight: bold; }
header nav { margin-left: 40px; font-size: 14px; font-weight: normal; }
header nav span { margin-right: 22px; opacity: .85; }
.layout { display: flex; }
aside { width: 220px; padding: 20px; font-size: 14px; line-height: 2.2em; color: #52606d; }
main { flex: 1; padding: 24px; }
.cards { display: flex; gap: 16px; margin-bottom: 24px; }
.card { flex: 1; background: white; border-radius: 8px; padding: 16px 20px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.card .label { font-size: 13px; color: #7b8794; text-transform: uppercase; letter-spacing: .05em; }
.card .value { font-size: 30px; font-weight: bold; margin-top: 6px; }
.card .delta { font-size: 13px; color: #2f8132; }
.panel { background: white; border-radius: 8px; padding: 16px 20px; margin-bottom: 24px;
         box-shadow: 0 1px 3px rgba(0,0,0,.12); }
h2 { font-size: 17px; margin: 0 0 12px; }
p { font-size: 14px; line-height: 1.6em; color: #3e4c59; margin: 0 0 10px; }
table { border-collapse: collapse; width: 100%%; font-size: 13px; }
th { text-align: left; color: #7b8794; font-weight: 600; border-bottom: 2px solid #e4e7eb; padding: 8px; }
td { border-bottom: 1px solid #eef1f4; padding: 7px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { height: 8px; background: linear-gradient(90deg, #3ebd93, #199473); border-radius: 4px; }
"""

WORDS = (
    "order invoice customer account payment shipping review pending active region revenue churn latency "
    "checkout session mobile desktop refund support ticket release build deploy monitor alert journey"
).split()


def _page_html(width: int, height: int, revenue: str, rows: int, paragraphs: int) -> str:
    rng = np.random.default_rng(7)
    words = lambda n: " ".join(rng.choice(WORDS, n))  # noqa: E731
    cards = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value" id="{i}">{value}</div>'
        f'<div class="delta">&#9650; {rng.integers(1, 30) / 10:.1f}% vs last week</div></div>'
        for i, (label, value) in enumerate(
            [("Revenue", revenue), ("Orders", "18,204"), ("Conversion", "3.41%"), ("Avg. latency", "212 ms")]
        )
    )
    pts = " ".join(f"{x},{120 - 50 * np.sin(x / 60) - rng.integers(0, 30)}" for x in range(0, 1400, 20))
    chart = (
        '<div class="panel"><h2>Traffic</h2><svg width="100%" height="160">'
        f'<polyline fill="none" stroke="#3e7bfa" stroke-width="2" points="{pts}"/>'
        '<line x1="0" y1="150" x2="1400" y2="150" stroke="#cbd2d9"/></svg></div>'
    )
    body_rows = "".join(
        f"<tr><td>#{100000 + r}</td><td>{words(2).title()}</td><td>2026-0{1 + r % 9}-{10 + r % 18}</td>"
        f'<td><div class="bar" style="width:{20 + (r * 37) % 80}%"></div></td>'
        f'<td class="num">{rng.integers(10, 99999) / 100:,.2f}</td><td>{rng.choice(["paid", "open", "late"])}</td></tr>'
        for r in range(rows)
    )
    table = (
        '<div class="panel"><h2>Recent orders</h2><table><tr><th>Order</th><th>Customer</th><th>Date</th>'
        f'<th>Progress</th><th class="num">Amount</th><th>Status</th></tr>{body_rows}</table></div>'
    )
    text = "".join(
        f'<div class="panel"><h2>{words(3).title()}</h2><p>{words(60).capitalize()}.</p><p>{words(45).capitalize()}.</p></div>'
        for _ in range(paragraphs)
    )
    nav = "".join(f"<span>{w.title()}</span>" for w in WORDS[:6])
    side = "<br>".join(w.title() for w in WORDS[6:18])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{PAGE_CSS % {'w': width, 'h': height}}</style></head>"
        f"<body><header>Patrol Shop<nav>{nav}</nav></header><div class='layout'><aside>{side}</aside><main>"
        f"<div class='cards'>{cards}</div>{chart}{table}{text}</main></div></body></html>"
    )


def _chromium_pair(width: int, height: int) -> tuple[bytes, bytes]:
    from playwright.sync_api import sync_playwright

    rows, paragraphs = (14, 2) if height <= 1200 else (190, 30)
    exe = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome") if os.path.exists(p)), None)
    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--font-render-hinting=none"])
        try:
            page = browser.new_page(viewport={"width": width, "height": min(height, 1080)}, device_scale_factor=1)
            for revenue in ("&euro;1,284,310", "&euro;1,284,370"):
                page.set_content(_page_html(width, height, revenue, rows, paragraphs))
                clip = {"x": 0, "y": 0, "width": width, "height": height}
                shots.append(page.screenshot(full_page=True, clip=clip, animations="disabled", caret="hide"))
        finally:
            browser.close()
    a, b = shots
    if decode_png(a).shape[:2] != (height, width):
        raise RuntimeError(f"chromium produced {decode_png(a).shape[:2]}, wanted {(height, width)}")
    return a, b


def _synthetic_page(width: int, height: int, revenue: str) -> np.ndarray:
    """A page-like RGB image drawn with OpenCV: header gradient, cards, chart, text blocks, table."""
    rng = np.random.default_rng(7)
    img = np.full((height, width, 3), (250, 247, 245), np.uint8)  # BGR, light background
    grad = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    img[:64] = ((1 - grad) * np.array([85, 59, 36]) + grad * np.array([48, 30, 20])).astype(np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    aa = cv2.LINE_AA
    cv2.putText(img, "Patrol Shop", (24, 42), font, 0.8, (255, 255, 255), 2, aa)
    for i, w in enumerate(WORDS[:6]):
        cv2.putText(img, w.title(), (260 + i * 110, 40), font, 0.5, (230, 230, 230), 1, aa)
    for i, w in enumerate(WORDS[6:18]):
        cv2.putText(img, w.title(), (20, 110 + i * 30), font, 0.5, (110, 96, 82), 1, aa)
    x0 = 244
    card_w = (width - x0 - 24 - 3 * 16) // 4
    values = [revenue, "18,204", "3.41%", "212 ms"]
    for i, (label, value) in enumerate(zip(["REVENUE", "ORDERS", "CONVERSION", "AVG. LATENCY"], values)):
        cx = x0 + i * (card_w + 16)
        cv2.rectangle(img, (cx, 88), (cx + card_w, 198), (255, 255, 255), -1)
        cv2.rectangle(img, (cx, 88), (cx + card_w, 198), (225, 221, 217), 1)
        cv2.putText(img, label, (cx + 20, 116), font, 0.45, (148, 135, 123), 1, aa)
        cv2.putText(img, value, (cx + 20, 160), font, 1.0, (51, 41, 31), 2, aa)
        cv2.putText(img, f"+{rng.integers(1, 30) / 10:.1f}% vs last week", (cx + 20, 186), font, 0.42, (50, 129, 47), 1, aa)
    cv2.rectangle(img, (x0, 222), (width - 24, 420), (255, 255, 255), -1)
    pts = np.array([[x0 + 20 + x, 380 - int(60 * np.sin(x / 60)) - int(rng.integers(0, 30))]
                    for x in range(0, width - x0 - 60, 20)], np.int32)
    cv2.polylines(img, [pts], False, (250, 123, 62), 2, aa)
    cv2.line(img, (x0 + 20, 400), (width - 44, 400), (217, 210, 203), 1)
    y = 450
    while y < height - 40:
        cv2.rectangle(img, (x0, y), (width - 24, min(y + 260, height - 10)), (255, 255, 255), -1)
        cv2.putText(img, " ".join(rng.choice(WORDS, 3)).title(), (x0 + 20, y + 30), font, 0.6, (51, 41, 31), 2, aa)
        for line in range(8):
            ty = y + 60 + line * 24
            if ty > min(y + 250, height - 20):
                break
            if line % 2:
                cv2.putText(img, " ".join(rng.choice(WORDS, 14)), (x0 + 20, ty), font, 0.48, (89, 76, 62), 1, aa)
            else:
                amount = f"#{int(rng.integers(100000, 999999))}  {int(rng.integers(10, 99999)) / 100:,.2f}"
                cv2.putText(img, amount, (x0 + 20, ty), font, 0.48, (89, 76, 62), 1, aa)
                bar = int(rng.integers(60, 400))
                cv2.rectangle(img, (x0 + 420, ty - 9), (x0 + 420 + bar, ty - 1), (147, 189, 62), -1)
            cv2.line(img, (x0 + 20, ty + 8), (width - 44, ty + 8), (244, 241, 238), 1)
        y += 290
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _synthetic_pair(width: int, height: int) -> tuple[bytes, bytes]:
    a = _synthetic_page(width, height, "EUR 1,284,310")
    b = _synthetic_page(width, height, "EUR 1,284,370")
    return encode_png(a), encode_png(b)


def build_images(workdir: Path, source: str, dense: bool = True) -> tuple[str, list[dict]]:
    """Write the PNG pairs; returns (source used, scenarios)."""
    used = source
    pairs = {}
    sizes = {"1080p": (1920, 1080), "full-page 1280x8000": (1280, 8000)}
    for label, (w, h) in sizes.items():
        pair = None
        if source in ("auto", "chromium"):
            try:
                pair = _chromium_pair(w, h)
                used = "chromium"
            except Exception as exc:  # no Playwright / browser: fall back to OpenCV drawing
                if source == "chromium":
                    raise
                print(f"chromium unavailable ({type(exc).__name__}: {exc}); drawing with OpenCV", file=sys.stderr)
        if pair is None:
            pair = _synthetic_pair(w, h)
            used = "synthetic" if used != "chromium" else "mixed"
        pairs[label] = pair
    scenarios = []
    for label, (a_png, b_png) in pairs.items():
        slug = label.split()[0].replace("-", "")
        a_path = workdir / f"{slug}_a.png"
        b_path = workdir / f"{slug}_b.png"
        same_path = workdir / f"{slug}_a_reencoded.png"
        a_path.write_bytes(a_png)
        b_path.write_bytes(b_png)
        # same pixels, different bytes (another zlib level): defeats the byte-equal shortcut
        a_rgba = decode_png(a_png)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(a_rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        assert ok and buf.tobytes() != a_png
        same_path.write_bytes(buf.tobytes())
        scenarios.append({"name": f"{label} small change", "a": a_path, "b": b_path, "kind": "change"})
        scenarios.append({"name": f"{label} identical", "a": a_path, "b": same_path, "kind": "identical"})
    if dense:
        from diff_cases import dense_pairs  # Chromium renders, cached in benchmarks/.cache

        for label, a_path, b_path in dense_pairs(_page_html):
            scenarios.append({"name": label, "a": a_path, "b": b_path, "kind": "dense"})
    return used, scenarios


# --------------------------------------------------------------------------
# timing


class PixelmatchWorker:
    """A long-lived Node process timing pixelmatch() on images it decoded once."""

    def __init__(self, workdir: Path):
        script = workdir / "pixelmatch_worker.mjs"
        script.write_text(PIXELMATCH_WORKER)
        self.proc = subprocess.Popen(
            ["node", str(script), str(NODE_MODULES)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the pixelmatch worker (node) exited")
        return json.loads(line)

    def ask(self, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def measure(scenario: dict, runs: int, png_runs: int, workdir: Path, exe: Path, pm: PixelmatchWorker) -> dict:
    """Interleave the four measurements run by run, so that a busy machine slows them alike."""
    a_path, b_path = scenario["a"], scenario["b"]
    a = decode_png(a_path.read_bytes())
    b = decode_png(b_path.read_bytes())
    result = compare(a, b, threshold=THRESHOLD)
    pm.ask(cmd="load", name=scenario["name"], a=str(a_path), b=str(b_path))
    decoder = ThreadPoolExecutor(max_workers=2)
    patrol_diff = workdir / "patrol_diff.png"
    odiff_diff = workdir / "odiff_diff.png"
    odiff_cmd = [str(exe), str(a_path), str(b_path), str(odiff_diff),
                 "--threshold", str(THRESHOLD), "--antialiasing", "--parsable-stdout"]
    odiff_out = {}

    def patrol_arrays():
        compare(a, b, threshold=THRESHOLD)

    def patrol_png():
        # what a runner does with two PNG files: read, decode (both at once), compare,
        # and write a diff image when they differ
        a_bytes, b_bytes = a_path.read_bytes(), b_path.read_bytes()
        if a_bytes == b_bytes:
            return compare(a_bytes, b_bytes, threshold=THRESHOLD)
        fa = decoder.submit(decode_png, a_bytes)
        actual = decode_png(b_bytes)
        c = compare(fa.result(), actual, threshold=THRESHOLD)
        if c.diff_pixels:
            patrol_diff.write_bytes(diff_png(actual, c))
        return c

    cli_cmd = [sys.executable, "-m", "patrol.visual", str(a_path), str(b_path), str(workdir / "patrol_cli_diff.png"),
               "--threshold", str(THRESHOLD)]
    cli_out = {}

    def patrol_cli():
        # the whole process, as odiff is timed: interpreter start, imports, decode, compare, diff PNG
        proc = subprocess.run(cli_cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"python -m patrol.visual failed ({proc.returncode}): {proc.stderr}")
        cli_out["stdout"] = proc.stdout.strip()

    def odiff():
        proc = subprocess.run(odiff_cmd, capture_output=True, text=True)
        if proc.returncode not in (0, 22):
            raise RuntimeError(f"odiff failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        odiff_out["stdout"] = proc.stdout.strip()

    a_bytes = a_path.read_bytes()
    a_copy = bytes(bytearray(a_bytes))
    times = {"arrays": [], "pixelmatch": [], "png": [], "odiff": [], "cli": [], "bytes": []}
    pm_count = None
    # In-memory comparisons: alternating hot blocks (one untimed call, then `block`
    # timed calls) of Patrol and pixelmatch, so drift on a shared machine hits both.
    # PNG columns: Patrol and odiff alternate run by run, after one warm-up each.
    # big pairs: fewer timed runs (about 2 s per tool and case), at least 3
    t_one = _timed(patrol_arrays)
    block = max(1, min(10, int(400 / max(t_one, 1e-3))))
    rounds = max(1, -(-runs // 10)) if block == 10 else max(3, min(-(-runs // block), int(2000 / max(t_one, 1e-3))))
    for _ in range(rounds):
        patrol_arrays()
        times["arrays"] += [_timed(patrol_arrays) for _ in range(block)]
        answer = pm.ask(cmd="time", name=scenario["name"], runs=block + 1, threshold=THRESHOLD)
        times["pixelmatch"] += answer["times"][1:]
        pm_count = answer["count"]
    patrol_png()
    odiff()
    patrol_cli()
    n_png = png_runs if t_one < 200 else max(3, png_runs // 3)
    for _ in range(n_png):
        times["png"].append(_timed(patrol_png))
        times["odiff"].append(_timed(odiff))
        times["cli"].append(_timed(patrol_cli))
    compare(a_bytes, a_copy, threshold=THRESHOLD)
    times["bytes"] = [_timed(lambda: compare(a_bytes, a_copy, threshold=THRESHOLD)) for _ in range(runs)]
    decoder.shutdown()
    od = odiff_out.get("stdout", "")
    try:
        od_count = int(float(od.split(";")[0])) if od else 0
    except ValueError:
        od_count = -1
    med = {k: statistics.median(v) for k, v in times.items()}
    cli_count = int(cli_out["stdout"].split()[0])
    if not result.diff_pixels == pm_count == cli_count:
        raise AssertionError(f"{scenario['name']}: Patrol counts {result.diff_pixels} (CLI {cli_count}), "
                             f"pixelmatch {pm_count}")
    return {
        **med,
        "count": result.diff_pixels,
        "pm_count": pm_count,
        "od_count": od_count,
        "aa": result.aa_pixels,
        "clusters": len(result.clusters),
        "box": result.clusters[0] if result.clusters else None,
        "changed": int(np.count_nonzero((a != b).any(axis=2))),
    }


# --------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="timed in-memory runs per tool and case (median reported)")
    ap.add_argument("--png-runs", type=int, default=11, help="timed runs from PNG files per tool and case")
    ap.add_argument("--source", choices=["auto", "chromium", "synthetic"], default="auto")
    ap.add_argument("--keep", type=Path, help="keep the generated PNGs in this folder")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense Chromium-rendered pairs")
    ap.add_argument("--only", help="run only the cases whose name contains this text")
    args = ap.parse_args()

    ensure_peers()
    exe = odiff_binary()
    workdir = Path(tempfile.mkdtemp(prefix="patrol-diff-bench-")) if args.keep is None else args.keep
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        used, scenarios = build_images(workdir, args.source, dense=not args.no_dense)
        scenarios = [s for s in scenarios if not args.only or args.only in s["name"]]
        pm = PixelmatchWorker(workdir)
        try:
            rows = [(s, measure(s, args.runs, args.png_runs, workdir, exe, pm)) for s in scenarios]
        finally:
            pm.close()
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)

    ver = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    odiff_version = ((ver.stdout + ver.stderr).strip().splitlines() or ["odiff ?"])[0]
    print()
    print(f"images: {used}; threshold {THRESHOLD}; anti-aliased pixels excluded by all three "
          f"(odiff --antialiasing); medians of {args.runs}+ in-memory and {args.png_runs} PNG runs per tool and "
          f"case, peers interleaved")
    print(f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__} "
          f"({cv2.getNumThreads()} threads); node {pm.info['node']}, pixelmatch {pm.info['version']}; "
          f"{odiff_version}; {os.cpu_count()} CPUs, {platform.machine()}; load average {os.getloadavg()[0]:.1f}")
    print()
    head = ("case", "diff px P/pm/od", "Patrol arrays", "pixelmatch", "pm/P", "Patrol PNG*", "odiff CLI*", "od/P",
            "Patrol CLI**", "od/CLI")
    table = [head]
    for s, m in rows:
        table.append((
            s["name"],
            f"{m['count']}/{m['pm_count']}/{m['od_count']}",
            f"{m['arrays']:.2f} ms",
            f"{m['pixelmatch']:.2f} ms",
            f"{m['pixelmatch'] / m['arrays']:.1f}x",
            f"{m['png']:.1f} ms",
            f"{m['odiff']:.1f} ms",
            f"{m['odiff'] / m['png']:.1f}x",
            f"{m['cli']:.0f} ms",
            f"{m['odiff'] / m['cli']:.2f}x",
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("| " + " | ".join(c.ljust(widths[j]) if j < 2 else c.rjust(widths[j]) for j, c in enumerate(r)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()
    print("Patrol arrays vs pixelmatch: decoded RGBA in memory, only the comparison timed (pixelmatch in a Node")
    print("  worker that decoded the PNGs once with pngjs and times only the pixelmatch() call); blocks of 10")
    print("  hot runs, alternating between the two.")
    print("* PNG columns include decoding: Patrol = read both files + decode (the two PNGs on two threads) +")
    print("  compare (+ diff image written as PNG with diff_png() when they differ); odiff = one CLI run per sample")
    print("  (process start + decode + compare + diff PNG written when they differ).")
    print("** Patrol CLI = `python -m patrol.visual A B DIFF` as a process per sample, like odiff (interpreter")
    print("  start and the NumPy/OpenCV imports included). Counts are asserted equal to pixelmatch's for every case.")
    print("  'identical' rows compare a PNG with a re-encoding of the same pixels (different bytes), so no")
    print("  byte-equal shortcut there. Patrol's byte-equal shortcut on equal bytes takes:")
    for s, m in rows:
        if s["kind"] == "identical":
            print(f"    {s['name'].replace(' identical', '')}: {m['bytes'] * 1000:.0f} us")
    for s, m in rows:
        if s["kind"] in ("change", "dense"):
            box = m["box"]
            where = f"biggest cluster {box.width}x{box.height} at ({box.x},{box.y})" if box else "no cluster"
            print(f"  {s['name']}: {m['changed']} px changed at all, {m['count']} counted, {m['aa']} anti-aliased, "
                  f"{m['clusters']} cluster(s), {where}")


if __name__ == "__main__":
    main()
