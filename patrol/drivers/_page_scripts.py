"""Scripts both web-capable drivers run in the page (Playwright's evaluate, and the
WebDriver execute_script of Appium's chromium driver). Written once as function
bodies that read their argument from ``arg`` and ``return`` their answer; each driver
wraps them in its own calling convention."""

from __future__ import annotations

from ..core.geometry import Box

# What "still loading" looks like on a page (a spinner, a progress bar, aria-busy).
BUSY_SELECTOR = "[aria-busy=true], .spinner, .loading, [role=progressbar]"

# What on screen says "still loading", in words a person reads ([] when nothing does):
# ARIA (aria-busy, an unfinished progressbar, a status or live region saying "loading"),
# the class names the common UI kits give their spinners, masks and skeletons (Ant
# Design, Element, MUI, Bootstrap, Vuetify, Lumino/JupyterLab...), and the app's own
# ``busy:`` selectors in ``arg``. Class names, not running animations: the still-CSS
# stops animations before screenshots, and a spinner is still a spinner then.
BUSY_INDICATORS = """
  const words = new RegExp(['loading', 'please wait', 'just a moment', 'in progress', '加载', '载入', '請稍候', '请稍候',
                             '请稍等', '正在', '読み込み', 'chargement', 'cargando', 'wird geladen'].join('|'), 'i');
  const kit = new RegExp('(^|[-_])(spinner|spinning|spin|loading|loader|skeleton)([-_]|$)|spinner|skeleton|' +
                         'circularprogress|linearprogress|progress-(circular|linear)', 'i');
  const seen = el => {
    const r = el.getBoundingClientRect();
    if (r.width < 4 || r.height < 4 || r.bottom <= 0 || r.right <= 0 || r.top >= innerHeight || r.left >= innerWidth) return false;
    return el.checkVisibility ? el.checkVisibility({opacityProperty: true, visibilityProperty: true})
                              : getComputedStyle(el).visibility !== 'hidden';
  };
  const text = el => (el.innerText || el.getAttribute('aria-label') || '').replace(/\\s+/g, ' ').trim().slice(0, 80);
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '');
  // Each indicator once, by its first reason; the parts inside one are the same indicator.
  const out = [], shown = [];
  const add = (why, el) => {
    if (out.length >= 5 || shown.some(s => s.contains(el)) || !seen(el)) return;
    shown.push(el);
    out.push(why + ': ' + (text(el) ? JSON.stringify(text(el)) + ' ' : '') + name(el));
  };
  const all = (sel, fn) => { try { document.querySelectorAll(sel).forEach(fn); } catch (e) { } };
  // The page itself still arriving or parsing (a huge document on a loaded machine): its
  // scripts have not run yet, so what they would show cannot have appeared.
  if (document.readyState === 'loading') out.push('the page is still loading its document (' +
    document.getElementsByTagName('*').length + ' elements so far)');
  for (const sel of arg || []) all(sel, el => add('busy selector ' + sel, el));
  all('[aria-busy="true"]', el => add('aria-busy', el));
  all('[role=progressbar]', el => {
    const now = el.getAttribute('aria-valuenow'), max = el.getAttribute('aria-valuemax') || '100';
    if (now === null || Number(now) < Number(max)) add('progressbar', el);
  });
  all('[role=status], [role=alert], [aria-live]', el => { if (words.test(text(el))) add('status', el); });
  all('[class]', el => {
    const cls = typeof el.className === 'string' ? el.className : '';
    if (cls.split(/\\s+/).some(t => kit.test(t) && !/lazy|loaded|done|hidden|nested|container|wrap|button/i.test(t))) add('spinner', el);
  });
  return out;
"""

# Requests aborted because the page navigated away are normal life, not failures.
BENIGN_FAILURES = ("net::ERR_ABORTED", "NS_BINDING_ABORTED")

# Freeze what moves, so two screenshots of a still page are identical.
STILL_CSS = (
    "*, *::before, *::after { animation: none !important; transition: none !important; "
    "caret-color: transparent !important; }"
)

# Installed before any page script runs (an init script): notes what may still change
# the screen soon, so settling can stop as soon as the page is quiet instead of
# always waiting out a quiet window. It wraps timers and animation frames without
# changing what they do, and watches the DOM. Our own still-CSS is not a change.
QUIET_INIT = """
(() => {
  if (window.__patrolQuiet) return;
  const q = window.__patrolQuiet = {timers: new Map(), intervals: new Map(), frame: -1e9, mutated: -1e9, changes: 0};
  const now = () => performance.now();
  const st = window.setTimeout, ct = window.clearTimeout, si = window.setInterval, ci = window.clearInterval;
  const raf = window.requestAnimationFrame;
  window.setTimeout = function (fn, ms, ...rest) {
    if (typeof fn !== 'function') return st.call(this, fn, ms, ...rest);
    let id;
    const run = function () { q.timers.delete(id); return fn.apply(this, arguments); };
    id = st.call(this, run, ms, ...rest);
    q.timers.set(id, now() + (Number(ms) || 0));
    return id;
  };
  window.clearTimeout = function (id) { q.timers.delete(id); return ct.call(this, id); };
  window.setInterval = function (fn, ms, ...rest) {
    const id = si.call(this, fn, ms, ...rest);
    q.intervals.set(id, Number(ms) || 0);
    return id;
  };
  window.clearInterval = function (id) { q.intervals.delete(id); return ci.call(this, id); };
  window.requestAnimationFrame = function (cb) { q.frame = now(); q.changes++; return raf.call(this, cb); };
  const ours = n => n.nodeType === 1 && n.hasAttribute('data-patrol-still');
  new MutationObserver(records => {
    if (records.every(r => r.type === 'childList' && [...r.addedNodes, ...r.removedNodes].every(ours))) return;
    q.mutated = now(); q.changes++;
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
})();
//# sourceURL=patrol-quiet-init.js
"""

# What may still change the screen ([] when the page is quiet), and how many DOM changes
# and animation frames the page has had so far (two equal counts: nothing changed what it
# shows between the two reads). ``arg``: the horizon in ms (a timer due within it, a DOM
# change or animation frame within a fraction of it).
PAGE_BUSY = """
  const q = window.__patrolQuiet; if (!q) return null;
  const t = performance.now(), busy = [];
  if (document.readyState !== 'complete') busy.push('loading');
  for (const due of q.timers.values()) if (due - t < arg) { busy.push('timer'); break; }
  for (const ms of q.intervals.values()) if (ms < 10 * arg) { busy.push('interval'); break; }
  if (t - q.frame < 100) busy.push('animation frame');
  if (t - q.mutated < 100) busy.push('dom');
  if (document.getAnimations && document.getAnimations().some(a => a.playState === 'running')) busy.push('animation');
  if (document.fonts && document.fonts.status !== 'loaded') busy.push('fonts');
  if (Array.from(document.images).some(i => !i.complete)) busy.push('image');
  return [busy, q.changes];
"""

# True when the screen can be captured as it is: what Playwright's screenshot would
# prepare (finish animations, hide the caret, wait for fonts) has nothing to do.
# Anything it cannot vouch for (frames inside the page) says false.
PLAIN_SCREEN = """
  if (document.getAnimations && document.getAnimations().some(a => a.playState === 'running')) return false;
  if (document.fonts && document.fonts.status !== 'loaded') return false;
  if (document.querySelector('iframe, frame')) return false;
  if (document.querySelector('style[data-patrol-still]')) return true;
  const e = document.activeElement;
  return !(e && (e.isContentEditable || e.tagName === 'INPUT' || e.tagName === 'TEXTAREA' || e.tagName === 'SELECT'));
"""

# [devicePixelRatio, the CSS-pixel boxes of the elements each selector in ``arg``
# matches] in one round trip, rounded by the caller as before. null for a selector the page's own CSS
# engine cannot answer as Playwright's would (its selector extensions, open shadow
# roots, which Playwright's CSS pierces): the caller asks Playwright for that one.
ELEMENT_BOXES = """
  const shadows = Array.from(document.querySelectorAll('*')).some(e => e.shadowRoot);
  return [devicePixelRatio, arg.map(sel => {
    if (shadows) return null;
    let found;
    try { found = document.querySelectorAll(sel); } catch (e) { return null; }
    const out = [];
    for (const el of found) {
      if (el.getClientRects().length === 0) continue;  // not rendered: no box
      const r = el.getBoundingClientRect();
      out.push([r.x, r.y, r.width, r.height]);
    }
    return out;
  })];
"""

# STILL_CSS as a marked style element (the quiet watcher does not count it as a change).
ADD_STILL_CSS = """
  const s = document.createElement('style'); s.setAttribute('data-patrol-still', '');
  s.textContent = arg; (document.head || document.documentElement).appendChild(s);
"""

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

# TEXT_BOXES for each of the words in ``arg`` (a list), in one call: the same walk per
# word, each element's squashed text worked out once (the forbidden-text check asks for
# ten words on every step).
TEXT_BOXES_EACH = """
  const squash = s => (s || '').replace(/\\s+/g, '');
  const seen = new Map();
  const text = el => { let t = seen.get(el); if (t === undefined) { t = squash(el.textContent); seen.set(el, t); } return t; };
  const els = document.body ? Array.from(document.body.querySelectorAll('*')) : [];
  const d = devicePixelRatio;
  return arg.map(word => {
    const want = squash(word); const out = [];
    for (const el of els) {
      if (!text(el).includes(want)) continue;
      if (Array.from(el.children).some(c => text(c).includes(want))) continue;
      const r = el.getBoundingClientRect();
      if (r.width < 1 || r.height < 1 || r.bottom < 0 || r.top > innerHeight) continue;
      out.push([Math.round(r.x * d), Math.round(r.y * d), Math.round(r.width * d), Math.round(r.height * d)]);
      if (out.length >= 3) break;
    }
    return out;
  });
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


# The page as it is laid out, for the visual check's match levels (one call per
# compared step): every rendered element in document order, on screen or not (a
# shift pushes content below the fold: still the same content), with its kind-path
# (tag, id or first class: not its position), box in screenshot pixels (the
# viewport's, so off screen is negative or past the edge), its own text (not its
# children's) and whether it is inline (sized by its text). Bounded (5,000 elements
# looked at, 2,500 kept): a huge page costs no more than a big one.
SCREEN_LAYOUT = """
  const d = devicePixelRatio, out = [];
  let visited = 0;
  const name = el => {
    let s = el.localName;
    if (el.id) return s + '#' + el.id;
    const c = typeof el.className === 'string' ? el.className.trim() : '';
    return c ? s + '.' + c.split(/\\s+/)[0] : s;
  };
  const own = el => {  // the first few child nodes: a table body with 100,000 rows has no text of its own
    let t = '', k = 0;
    for (let n = el.firstChild; n && k < 64; n = n.nextSibling, k++) if (n.nodeType === 3) t += n.nodeValue;
    return t.replace(/\\s+/g, ' ').trim().slice(0, 300);
  };
  const full = () => visited > 5000 || out.length >= 2500;
  const walk = (el, path) => {
    if (++visited, full()) return;
    const st = getComputedStyle(el);
    if (st.display === 'none') return;
    const p = path ? path + '>' + name(el) : name(el);
    const r = el.getBoundingClientRect();
    if ((r.width > 0 || r.height > 0) && st.visibility !== 'hidden' && st.opacity !== '0')
      out.push([p, [Math.round(r.left * d), Math.round(r.top * d), Math.round(r.width * d), Math.round(r.height * d)],
                own(el), st.display.startsWith('inline')]);
    for (let c = el.firstElementChild; c && !full(); c = c.nextElementSibling) walk(c, p);
  };
  if (document.body) walk(document.body, '');
  // as JSON text: a driver's own serialisation of thousands of small arrays takes a second
  return JSON.stringify({width: Math.round(innerWidth * d), height: Math.round(innerHeight * d), elements: out});
"""


def for_playwright(body: str) -> str:
    return "(arg) => {" + body + "}"


def for_webdriver(body: str) -> str:
    return "const arg = arguments[0];" + body


# -- what the scripts answer, read with the shape the script gives checked (a page
# script's answer is plain JSON: a row of another shape is left out) ---------------------
def numbers4(row: object) -> tuple[float, float, float, float] | None:
    """``[x, y, w, h]``: four numbers; None for anything else."""
    if not isinstance(row, list) or len(row) != 4:
        return None
    x, y, w, h = row
    if not all(isinstance(v, (int, float)) for v in (x, y, w, h)):
        return None
    return float(x), float(y), float(w), float(h)


def boxes(rows: object) -> list[Box]:
    """``[[x, y, w, h], ...]`` in screenshot pixels (whole numbers) as Boxes."""
    out: list[Box] = []
    for row in rows if isinstance(rows, list) else []:
        four = numbers4(row)
        if four is not None:
            x, y, w, h = four
            out.append(Box(int(x), int(y), int(w), int(h)))
    return out


def boxes_each(rows: object) -> list[list[Box]]:
    """One list of boxes per word asked about (``TEXT_BOXES_EACH``)."""
    return [boxes(at) for at in rows] if isinstance(rows, list) else []


def pair(value: object) -> tuple[object, object] | None:
    """Two answers of one read (``[first, second]``); None when the page gave something else."""
    if isinstance(value, list) and len(value) == 2:
        return value[0], value[1]
    return None
