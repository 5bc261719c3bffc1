"""Scripts both web-capable drivers run in the page (Playwright's evaluate, and the
WebDriver execute_script of Appium's chromium driver). Written once as function
bodies that read their argument from ``arg`` and ``return`` their answer; each driver
wraps them in its own calling convention."""

from __future__ import annotations

# What "still loading" looks like on a page (a spinner, a progress bar, aria-busy).
BUSY_SELECTOR = "[aria-busy=true], .spinner, .loading, [role=progressbar]"

# Requests aborted because the page navigated away are normal life, not failures.
BENIGN_FAILURES = ("net::ERR_ABORTED", "NS_BINDING_ABORTED")

# Freeze what moves, so two screenshots of a still page are identical.
STILL_CSS = (
    "*, *::before, *::after { animation: none !important; transition: none !important; "
    "caret-color: transparent !important; }"
)

# Images in the viewport that finished loading with nothing to show.
BROKEN_IMAGES = """
  const d = devicePixelRatio;
  return Array.from(document.images).filter(img => {
    const r = img.getBoundingClientRect();
    const inView = r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 &&
                   r.top < innerHeight && r.left < innerWidth && getComputedStyle(img).visibility !== 'hidden';
    return inView && img.complete && img.naturalWidth === 0;
  }).map(img => { const r = img.getBoundingClientRect();
    return {src: img.currentSrc || img.src, alt: img.alt, id: img.id,
            box: [Math.round(r.x * d), Math.round(r.y * d), Math.round(r.width * d), Math.round(r.height * d)]}; });
"""

# The innermost visible elements whose text contains the words in ``arg`` (spaces ignored).
TEXT_BOXES = """
  const squash = s => (s || '').replace(/\\s+/g, '');
  const want = squash(arg); const out = [];
  for (const el of document.body ? document.body.querySelectorAll('*') : []) {
    if (!squash(el.textContent).includes(want)) continue;
    if (Array.from(el.children).some(c => squash(c.textContent).includes(want))) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || r.bottom < 0 || r.top > innerHeight) continue;
    const d = devicePixelRatio;
    out.push([Math.round(r.x * d), Math.round(r.y * d), Math.round(r.width * d), Math.round(r.height * d)]);
    if (out.length >= 3) break;
  }
  return out;
"""

# Elements whose words exist only as pixels, in view and big enough to hold text.
PICTURE_BOXES = """
  const out = []; const d = devicePixelRatio;
  for (const el of document.querySelectorAll('canvas, img, svg, video, object, embed, [style*="background-image"]')) {
    const r = el.getBoundingClientRect();
    if (r.width < 40 || r.height < 16 || r.bottom < 0 || r.top > innerHeight || r.right < 0 || r.left > innerWidth) continue;
    const x = Math.max(0, r.x), y = Math.max(0, r.y);
    out.push([Math.round(x * d), Math.round(y * d), Math.round((Math.min(innerWidth, r.right) - x) * d),
              Math.round((Math.min(innerHeight, r.bottom) - y) * d)]);
  }
  return out.slice(0, 12);
"""


def for_playwright(body: str) -> str:
    return "(arg) => {" + body + "}"


def for_webdriver(body: str) -> str:
    return "const arg = arguments[0];" + body
