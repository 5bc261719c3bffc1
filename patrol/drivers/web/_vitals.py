"""Web Vitals measured in the page (``core/vitals.py`` says what they mean per step).

An init script (``VITALS_INIT``) observes, in every top-level document, the
browser's own performance entries (buffered, so none before it is missed): the
largest contentful paint, layout shifts without recent input (with the elements
they moved), and interactions (Event Timing, 16 ms and more). ``VITALS_READ`` cuts
them to a step in the page: given the document it saw last (``timeOrigin``) and the
page time of its last read, it answers the shifts and interactions since, and the
load figures (TTFB, FCP, LCP) when the document is new. It runs with the read the
screenshot makes anyway (``PLAIN_SCREEN``): no call of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.urls import mask_url
from ...core.vitals import PageVitals, ShiftSource

VITALS_INIT = """
(() => {
  if (window.__patrolVitals || window !== window.top) return;
  const v = window.__patrolVitals = {lcp: null, shifts: [], events: new Map(), inputs: []};
  const name = el => {
    if (!el || el.nodeType !== 1) return null;
    const c = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).filter(Boolean).slice(0, 2) : [];
    return el.localName + (el.id ? '#' + el.id : '') + (c.length ? '.' + c.join('.') : '');
  };
  const watch = (type, fn, extra) => {
    try { new PerformanceObserver(l => l.getEntries().forEach(fn)).observe({type, buffered: true, ...extra}); }
    catch (e) { }
  };
  watch('largest-contentful-paint', e => {
    v.lcp = {at: e.startTime, el: name(e.element), url: e.url || '', size: e.size};
  });
  watch('layout-shift', e => {
    if (e.hadRecentInput) return;
    const src = (e.sources || []).filter(s => s.node && s.node.nodeType === 1).slice(0, 3).map(s => ({
      el: name(s.node), dx: Math.round(s.currentRect.x - s.previousRect.x), dy: Math.round(s.currentRect.y - s.previousRect.y)}));
    v.shifts.push({at: e.startTime, value: e.value, src});
    if (v.shifts.length > 300) v.shifts.shift();
  });
  const interaction = e => {
    if (!e.interactionId) return;
    const had = v.events.get(e.interactionId);
    if (had && had.d >= e.duration) return;
    v.events.set(e.interactionId, {at: e.startTime, d: e.duration, what: e.name + (name(e.target) ? ' on ' + name(e.target) : '')});
    if (v.events.size > 200) v.events.delete(v.events.keys().next().value);
  };
  watch('event', interaction, {durationThreshold: 16});
  watch('first-input', interaction);
  for (const t of ['pointerdown', 'keydown']) {
    addEventListener(t, ev => {
      if (!ev.isTrusted) return;
      v.inputs.push(performance.now());
      if (v.inputs.length > 200) v.inputs.shift();
    }, {capture: true, passive: true});
  }
})();
//# sourceURL=patrol-vitals-init.js
"""

# ``arg``: {origin: the timeOrigin of the document read last (null: none), since: the
# page time of the last read of the previous step}. null when the init script is not there.
VITALS_READ = """
  const v = window.__patrolVitals; if (!v) return null;
  const origin = performance.timeOrigin, fresh = arg.origin !== origin, since = fresh ? -1 : arg.since;
  const out = {origin, now: performance.now(), navigated: fresh};
  if (fresh) {
    const nav = performance.getEntriesByType('navigation')[0];
    if (nav && nav.responseStart > 0) out.ttfb = Math.max(0, nav.responseStart - (nav.activationStart || 0));
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    if (fcp) out.fcp = fcp.startTime;
    if (v.lcp) out.lcp = v.lcp;
  }
  // CLS as the browser's own: the largest session window (shifts less than 1 s apart, 5 s at most).
  let best = 0, bestWindow = [], sum = 0, win = [], n = 0;
  for (const s of v.shifts) {
    if (s.at <= since) continue;
    n++;
    if (win.length && (s.at - win[win.length - 1].at >= 1000 || s.at - win[0].at >= 5000)) { sum = 0; win = []; }
    sum += s.value; win.push(s);
    if (sum > best) { best = sum; bestWindow = win.slice(); }
  }
  out.cls = best; out.shifts = n;
  const worst = bestWindow.reduce((a, s) => (!a || s.value > a.value ? s : a), null);
  out.sources = worst ? worst.src : [];
  let inp = null;
  for (const e of v.events.values()) if (e.at > since && (!inp || e.d > inp.d)) inp = e;
  out.inp = inp;
  out.interactions = v.inputs.filter(t => t > since).length;
  return out;
"""


class VitalsReader:
    """The driver's side: which document it read last and from when a step counts, the
    step's latest reading, and the step's vitals handed over when the step ends."""

    def __init__(self) -> None:
        self._origin: float | None = None
        self._since = -1.0
        self._latest: dict[str, object] | None = None

    def arg(self) -> dict[str, float | None]:
        return {"origin": self._origin, "since": self._since}

    def seen(self, raw: object) -> None:
        """A reading of ``VITALS_READ`` (several in a step: the last one counts)."""
        if isinstance(raw, dict) and isinstance(raw.get("origin"), (int, float)):
            self._latest = raw

    def step_done(self) -> PageVitals | None:
        """The step's vitals (None when the page was not read), and the next step counts from here."""
        raw, self._latest = self._latest, None
        if raw is None:
            return None
        self._origin, self._since = _number(raw["origin"]), _number(raw.get("now"))
        return parse(raw)


# An element's name as the page gives it (tag#id.class): the page's own text, kept short.
MAX_NAME = 120


def _name(value: object) -> str | None:
    return str(value)[:MAX_NAME] if value else None


def _ms(value: object) -> float | None:
    return round(float(value), 1) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _number(value: object) -> float:
    """A number the page script gave (0 when it gave none)."""
    return float(value) if isinstance(value, (int, float)) else 0.0


def _object(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) else None


def parse(raw: Mapping[str, object]) -> PageVitals:
    lcp, inp = _object(raw.get("lcp")), _object(raw.get("inp"))
    listed = raw.get("sources")
    sources = tuple(ShiftSource(str(_name(s.get("el"))), int(_number(s.get("dx"))), int(_number(s.get("dy"))))
                    for s in (listed if isinstance(listed, list) else []) if isinstance(s, dict) and s.get("el"))
    lcp_url = str(lcp["url"]) if lcp and lcp.get("url") else None
    return PageVitals(
        navigated=bool(raw.get("navigated")), ttfb_ms=_ms(raw.get("ttfb")), fcp_ms=_ms(raw.get("fcp")),
        lcp_ms=_ms(lcp.get("at")) if lcp else None, lcp_element=_name(lcp.get("el")) if lcp else None,
        lcp_url=mask_url(lcp_url) if lcp_url and not lcp_url.startswith("data:") else None,
        cls=round(_number(raw.get("cls")), 4), shifts=int(_number(raw.get("shifts"))), shift_sources=sources,
        inp_ms=_ms(inp.get("d")) if inp else None, inp_event=_name(inp.get("what")) if inp else None,
        interactions=int(_number(raw.get("interactions"))))
