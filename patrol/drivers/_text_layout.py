"""What the text layout check asks a web page (Playwright's evaluate, and the WebDriver
execute_script of Appium's chromium driver): a function body reading ``arg`` and
returning its answer, as in ``_page_scripts``."""

from __future__ import annotations

# Text a person cannot read whole, in the viewport (``arg``: {ignore: [selectors]}):
# - ``clipped``: a line of text partly cut by an ancestor that hides overflow (``overflow:
#   hidden``/``clip``, ``text-overflow: ellipsis``), the part the page's own scrolling
#   hides aside (the scroller's edge is where content goes on, not a cut);
# - ``spilled``: a line sticking out of the nearest ancestor that paints a box (a
#   background or a border: a button, a pill), where it is drawn on what is outside;
# - ``offscreen``: a line running past the viewport's left or right edge;
# - ``overlap``: lines of two unrelated elements drawn over each other, neither under
#   something opaque (a modal, a menu or a sticky bar covers text on purpose).
# Text hidden whole (a closed panel, a carousel's other slides, a screen-reader-only
# label) is not cut; an ellipsis whose full text is in a tooltip (``title``,
# ``aria-label``) or whose class says it truncates is the page saying so on purpose,
# unless the text is a number (an amount); icon glyphs, SVG and canvas are pictures. Boxes are in screenshot pixels.
TEXT_LAYOUT = """
  const d = devicePixelRatio, W = document.documentElement.clientWidth || innerWidth, H = innerHeight;
  const ignore = (arg && arg.ignore) || [];
  const styles = new Map();
  const css = el => { let s = styles.get(el); if (!s) { s = getComputedStyle(el); styles.set(el, s); } return s; };
  const matches = (el, sel) => { try { return !!el.closest(sel); } catch (e) { return false; } };
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'OPTION', 'OPTGROUP', 'TEXTAREA', 'TITLE',
                        'CANVAS', 'SELECT', 'IFRAME', 'OBJECT', 'VIDEO', 'AUDIO']);
  const ICON_FONT = /icon|awesome|glyph|material symbols|codicon|octicon|iconfont|remixicon|ionicons/i;
  const ICON_CHARS = /^[\\s\\ue000-\\uf8ff\\u2190-\\u21ff\\u2300-\\u23ff\\u25a0-\\u27bf\\u2b00-\\u2bff\\u00d7\\u2715-\\u2717]*$/;
  const opaque = el => {
    const s = css(el);
    if (s.backgroundImage && s.backgroundImage !== 'none') return true;
    const m = /rgba?\\(([^)]+)\\)/.exec(s.backgroundColor || '');
    if (!m) return false;
    const parts = m[1].split(/[ ,\\/]+/).filter(Boolean);
    return parts.length < 4 || Number(parts[3]) > 0.3;
  };
  const paintsBox = el => opaque(el) || ['Top', 'Right', 'Bottom', 'Left'].some(side =>
    parseFloat(css(el)['border' + side + 'Width']) > 0 && css(el)['border' + side + 'Style'] !== 'none' &&
    !/rgba\\([^)]*,\\s*0\\)|transparent/.test(css(el)['border' + side + 'Color']));
  const name = el => {
    const part = e => {
      if (e.id && /^[A-Za-z][\\w-]*$/.test(e.id)) return '#' + e.id;
      let p = e.tagName.toLowerCase();
      const cls = typeof e.className === 'string' ? e.className.trim().split(/\\s+/).filter(c => /^[A-Za-z_][\\w-]*$/.test(c)) : [];
      if (cls.length) p += '.' + cls.slice(0, 2).join('.');
      const same = e.parentElement ? Array.from(e.parentElement.children).filter(c => c.tagName === e.tagName) : [];
      if (same.length > 1) p += ':nth-of-type(' + (same.indexOf(e) + 1) + ')';
      return p;
    };
    const path = [];
    for (let e = el; e && e !== document.body && e !== document.documentElement && path.length < 4; e = e.parentElement) {
      path.unshift(part(e));
      if (e.id && /^[A-Za-z][\\w-]*$/.test(e.id)) break;
    }
    return path.join(' > ');
  };
  // The full text in a tooltip of the element, of the box that cuts it, or of one of
  // the few elements around that box (a list row's title).
  const tooltip = (el, upto, text) => {
    const want = text.replace(/\\s+/g, '');
    let above = -1;
    for (let e = el; e && e !== document.body && above < 3; e = e.parentElement) {
      for (const a of ['title', 'aria-label', 'data-tooltip', 'data-title', 'data-original-title']) {
        const v = e.getAttribute(a);
        if (v && v.replace(/\\s+/g, '').includes(want)) return true;
      }
      if (e === upto || above >= 0) above += 1;
    }
    return false;
  };
  const box = r => [Math.round(r.left * d), Math.round(r.top * d), Math.round((r.right - r.left) * d),
                    Math.round((r.bottom - r.top) * d)];
  // Where a line of text can be seen: cut by the page's clipping ancestors (those that
  // hold it: its containing blocks), scrolled parts aside. Returns the cut ({by, ...}),
  // {hidden} for text hidden whole, else {vis}: the part that can be seen.
  const cutOf = (el, r, tol) => {
    let vis = {left: r.left, right: r.right, top: r.top, bottom: r.bottom}, pos = 'static';
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const s = css(a);
      if (a !== el) {
        const transformed = s.transform !== 'none' || s.filter !== 'none' || /paint|strict|content/.test(s.contain || '');
        if (pos === 'fixed' && !transformed) continue;
        if (pos === 'absolute' && s.position === 'static' && !transformed) continue;
      }
      if (a === document.body && a.parentElement && css(a.parentElement).overflow === 'visible') {
        pos = s.position;
        continue;  // the body's overflow is the viewport's (the offscreen rule)
      }
      if (s.clipPath !== 'none' || (s.clip && s.clip !== 'auto')) return {hidden: true};
      const b = a.getBoundingClientRect();
      const inner = {left: b.left + a.clientLeft, top: b.top + a.clientTop};
      inner.right = inner.left + a.clientWidth; inner.bottom = inner.top + a.clientHeight;
      for (const [axis, lo, hi] of [['x', 'left', 'right'], ['y', 'top', 'bottom']]) {
        const ov = axis === 'x' ? s.overflowX : s.overflowY;
        if (ov === 'visible') continue;
        if (a.clientWidth < 3 || a.clientHeight < 3) return {hidden: true};
        const over = Math.max(0, inner[lo] - vis[lo]) + Math.max(0, vis[hi] - inner[hi]);
        const seen = Math.min(vis[hi], inner[hi]) - Math.max(vis[lo], inner[lo]);
        if (seen <= 0) return {hidden: true};
        if ((ov === 'hidden' || ov === 'clip') && over > tol[axis]) {
          return {by: a, axis, side: inner[lo] - vis[lo] > tol[axis] ? lo : hi, px: over,
                  ellipsis: axis === 'x' && s.textOverflow === 'ellipsis' || css(el).textOverflow === 'ellipsis'};
        }
        vis[lo] = Math.max(vis[lo], inner[lo]); vis[hi] = Math.min(vis[hi], inner[hi]);
      }
      pos = s.position;
      if (pos === 'fixed') {
        // Fixed to the viewport: no further ancestor clips it (unless transformed, above).
      }
    }
    return {vis};  // not cut: the part a scroller shows
  };
  const problems = [], lines = [];
  // The text nodes to judge, in document order. A box wholly above or below the viewport
  // is not walked into; after 50 siblings in a row below it, the rest of their parent's
  // children are taken to be below too (a 150,000-row table costs 50 rows' boxes); past
  // a deadline nothing more is looked at.
  const deadline = performance.now() + 400;
  const texts = [];
  const visit = el => {
    let below = 0;
    for (let c = el.firstChild; c && texts.length < 6000; c = c.nextSibling) {
      if (c.nodeType === 3) { texts.push(c); continue; }
      if (c.nodeType !== 1 || SKIP.has(c.tagName) || performance.now() > deadline) continue;
      const r = c.getBoundingClientRect();
      if (r.height > 0 && r.top >= H) { if (++below >= 50) break; continue; }
      below = 0;
      if (!(r.height > 0 && r.bottom <= 0)) visit(c);
    }
  };
  visit(document.body || document.documentElement);
  const range = document.createRange();
  let budget = 4000;
  for (const node of texts) {
    if (budget <= 0 || performance.now() > deadline) break;
    const raw = node.nodeValue;
    if (!raw || !raw.trim()) continue;
    const el = node.parentElement;
    if (!el || SKIP.has(el.tagName) || el.closest('svg, canvas, [aria-hidden=true], [contenteditable=true]')) continue;
    if (ICON_CHARS.test(raw) || ICON_FONT.test(css(el).fontFamily)) continue;
    if (ignore.some(sel => matches(el, sel))) continue;
    if (el.checkVisibility && !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    range.selectNodeContents(node);
    const rects = Array.from(range.getClientRects()).filter(r => r.width >= 2 && r.height >= 2);
    if (!rects.length) continue;
    budget -= 1;
    const fs = parseFloat(css(el).fontSize) || 16;
    const tol = {x: Math.max(2, 0.25 * fs), y: Math.max(3, 0.45 * fs)};
    const text = () => (el.innerText || raw).replace(/\\s+/g, ' ').trim().slice(0, 300);  // only when reported
    let reported = false;
    for (const r of rects) {
      if (r.bottom <= 0 || r.top >= H || r.right <= 0 || r.left >= W) continue;  // out of view: not on this screen
      const cut = cutOf(el, r, tol);
      if (cut.hidden) break;
      if (!reported && cut.by) {
        // An ellipsis the page asked for (a tooltip with the full text, a class saying it
        // truncates on purpose) is meant, unless what it cuts is a number: "¥128,4…" is wrong.
        const meant = cut.ellipsis && (tooltip(el, cut.by, text()) || [el, cut.by].some(e =>
          /truncat|ellipsis|tooltip|clamp/i.test(typeof e.className === 'string' ? e.className : '')));
        if (!meant || (/\\d/.test(text()) && !/\\p{L}/u.test(text()))) {
          problems.push({kind: 'clipped', selector: name(el), text: text(), box: box(r), by: name(cut.by),
                         side: cut.side, px: Math.round(cut.px), ellipsis: !!cut.ellipsis});
        }
        reported = true;
      }
      const v = cut.vis || r;  // a scroller's edge before the screen's is where the text goes on
      if (!reported && (v.left < -tol.x || v.right > W + tol.x)) {
        problems.push({kind: 'offscreen', selector: name(el), text: text(), box: box(r), side: v.left < 0 ? 'left' : 'right',
                       px: Math.round(v.left < 0 ? -v.left : v.right - W)});
        reported = true;
      }
      if (!reported) {
        for (let a = el; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
          if (css(a).display === 'inline' || !paintsBox(a)) continue;
          const b = a.getBoundingClientRect();
          const over = Math.max(0, b.left - r.left) + Math.max(0, r.right - b.right);
          if (over > tol.x && b.width >= 8) {
            problems.push({kind: 'spilled', selector: name(el), text: text(), box: box(r), by: name(a),
                           side: b.left - r.left > tol.x ? 'left' : 'right', px: Math.round(over)});
            reported = true;
          }
          break;
        }
      }
      if (!cut.by) lines.push({el, r, text});
    }
  }
  // Lines of unrelated elements drawn over each other.
  const covered = (stack, el) => {
    for (const e of stack) {
      if (e.contains(el)) return false;
      if (opaque(e)) return true;
    }
    return false;
  };
  lines.sort((a, b) => a.r.left - b.r.left);
  const pairs = new Set();
  for (let i = 0; i < lines.length && problems.length < 40; i++) {
    const A = lines[i];
    for (let j = i + 1; j < lines.length && lines[j].r.left < A.r.right; j++) {
      const B = lines[j];
      if (A.el === B.el || A.el.contains(B.el) || B.el.contains(A.el)) continue;
      const ix = Math.min(A.r.right, B.r.right) - Math.max(A.r.left, B.r.left);
      const iy = Math.min(A.r.bottom, B.r.bottom) - Math.max(A.r.top, B.r.top);
      const h = Math.min(A.r.height, B.r.height);
      if (ix < Math.max(4, 0.3 * h) || iy < 0.5 * h) continue;
      const key = name(A.el) + '|' + name(B.el);
      if (pairs.has(key)) continue;
      const cx = (Math.max(A.r.left, B.r.left) + Math.min(A.r.right, B.r.right)) / 2;
      const cy = (Math.max(A.r.top, B.r.top) + Math.min(A.r.bottom, B.r.bottom)) / 2;
      const stack = document.elementsFromPoint(cx, cy);
      if (covered(stack, A.el) || covered(stack, B.el)) continue;
      pairs.add(key);
      const ib = {left: cx - ix / 2, right: cx + ix / 2, top: cy - iy / 2, bottom: cy + iy / 2};
      problems.push({kind: 'overlap', selector: name(A.el), text: A.text(), box: box(A.r),
                     other: {selector: name(B.el), text: B.text(), box: box(B.r)}, overlap: box(ib)});
    }
  }
  return problems.slice(0, 40);
"""
