"""The script the recorder installs in every page before the page's own scripts run.

It listens in the capture phase (so a page that stops propagation cannot hide an
action) and reports each customer action to the binding ``BINDING`` as
``{type, target, value?, key?, secret?}``. ``target`` carries every locator candidate
for the element with whether it is unique on the page *now*: once the action has
navigated, the page that could answer is gone. Python chooses among them
(``locators.choose_locator``). A password's value never leaves the page."""

from __future__ import annotations

BINDING = "__patrolRecord"

# Kept as one string: Playwright's add_init_script takes source text.
RECORDER_JS = r"""
(() => {
  if (window.__patrolRecorder) return;
  window.__patrolRecorder = true;
  const send = (event) => { try { window.__patrolRecord(event); } catch (e) { /* binding not ready */ } };
  const TEST_ATTRS = ["data-testid", "data-test", "data-test-id", "data-qa"];
  const ATTRS = ["name", "placeholder", "title", "alt", "href"];
  const SECRET_AUTOCOMPLETE = ["current-password", "new-password", "one-time-code", "cc-csc"];
  const TEXT_TYPES = ["text", "search", "email", "url", "tel", "number", "password", "date",
                      "datetime-local", "month", "week", "time", "color"];
  const ACTIONABLE = "button, a[href], input, select, textarea, label, summary, [role=button], [role=link], " +
    "[role=checkbox], [role=radio], [role=tab], [role=menuitem], [role=option], [role=switch], [onclick], " +
    TEST_ATTRS.map(a => "[" + a + "]").join(", ");
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const quote = (s) => '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const count = (css) => { try { return document.querySelectorAll(css).length; } catch (e) { return 0; } };

  function isTextField(el) {
    if (el.isContentEditable) return true;
    if (el.tagName === "TEXTAREA") return true;
    return el.tagName === "INPUT" && TEXT_TYPES.includes(el.type);
  }

  function role(el) {
    const explicit = norm(el.getAttribute("role")).split(" ")[0];
    if (explicit) return explicit;
    const tag = el.tagName.toLowerCase();
    if (tag === "button") return "button";
    if (tag === "a" && el.hasAttribute("href")) return "link";
    if (tag === "select") return (el.multiple || el.size > 1) ? "listbox" : "combobox";
    if (tag === "textarea") return "textbox";
    if (/^h[1-6]$/.test(tag)) return "heading";
    if (tag !== "input") return "";
    const t = el.type;
    if (["button", "submit", "reset", "image"].includes(t)) return "button";
    if (t === "checkbox" || t === "radio") return t;
    if (t === "number") return "spinbutton";
    if (t === "range") return "slider";
    if (["text", "search", "email", "url", "tel"].includes(t)) return el.hasAttribute("list") ? "combobox" : "textbox";
    return "";  // a password field has no role
  }

  // An approximation of the accessible name: enough for the elements people click.
  function accessibleName(el) {
    const ids = norm(el.getAttribute("aria-labelledby"));
    if (ids) {
      const text = norm(ids.split(" ").map(id => (document.getElementById(id) || {}).textContent || "").join(" "));
      if (text) return text;
    }
    const aria = norm(el.getAttribute("aria-label"));
    if (aria) return aria;
    if (el.tagName === "INPUT" && ["button", "submit", "reset"].includes(el.type)) return norm(el.value);
    if (el.tagName === "INPUT" && el.type === "image") return norm(el.alt);
    if (el.labels && el.labels.length) return norm(Array.from(el.labels).map(l => l.innerText).join(" "));
    if (["button", "link", "tab", "menuitem", "option", "heading", "checkbox", "radio", "switch"].includes(role(el))) {
      if (el.tagName !== "INPUT" && el.tagName !== "SELECT") return norm(el.innerText);
    }
    return norm(el.getAttribute("title")) || norm(el.getAttribute("placeholder"));
  }

  function roleCandidate(el) {
    const r = role(el), name = accessibleName(el);
    if (!r || !name || name.length > 80) return null;
    const lower = name.toLowerCase();
    let n = 0;
    for (const other of document.querySelectorAll("*")) {
      if (role(other) === r && visible(other) && accessibleName(other).toLowerCase() === lower) n++;
    }
    return {kind: "role", selector: "role=" + r + "[name=" + quote(name) + "]", unique: n === 1, value: name};
  }

  function textCandidate(el) {
    if (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA") return null;
    const text = norm(el.innerText);
    if (!text || text.length > 50) return null;
    let n = 0;  // elements whose own text is exactly this (the smallest ones, as Playwright matches)
    for (const other of document.querySelectorAll("body *")) {
      if (!other.textContent.includes(text)) continue;  // cheap first: innerText lays out
      if (norm(other.innerText) === text && visible(other) &&
          !Array.from(other.children).some(c => norm(c.innerText) === text)) n++;
    }
    return {kind: "text", selector: "text=" + quote(text), unique: n === 1, value: text};
  }

  function attrCandidates(el) {
    const tag = el.tagName.toLowerCase(), out = [];
    const names = ATTRS.concat(Array.from(el.attributes).map(a => a.name)
      .filter(a => a.startsWith("data-") && !TEST_ATTRS.includes(a)));
    for (const attr of names) {
      const v = el.getAttribute(attr);
      if (!v || v.length > 80) continue;
      const selector = tag + "[" + attr + "=" + quote(v) + "]";
      out.push({kind: "attr", selector, unique: count(selector) === 1, value: v});
    }
    return out;
  }

  function cssPath(el) {
    const parts = [];
    for (let node = el; node && node.nodeType === 1 && node !== document.documentElement; node = node.parentElement) {
      if (node !== el && node.id && count("#" + CSS.escape(node.id)) === 1) { parts.unshift("#" + CSS.escape(node.id)); break; }
      const tag = node.tagName.toLowerCase();
      const same = node.parentElement ? Array.from(node.parentElement.children).filter(c => c.tagName === node.tagName) : [];
      parts.unshift(same.length > 1 ? tag + ":nth-of-type(" + (same.indexOf(node) + 1) + ")" : tag);
    }
    return {kind: "css", selector: parts.join(" > "), unique: true, value: ""};
  }

  function describe(el) {
    const candidates = [];
    for (const attr of TEST_ATTRS) {
      const v = el.getAttribute(attr);
      if (v) candidates.push({kind: "testid", selector: "[" + attr + "=" + quote(v) + "]",
                              unique: count("[" + attr + "=" + quote(v) + "]") === 1, value: v});
    }
    if (el.id) candidates.push({kind: "id", selector: "#" + CSS.escape(el.id),
                                unique: count("#" + CSS.escape(el.id)) === 1, value: el.id});
    const byRole = roleCandidate(el);
    if (byRole) candidates.push(byRole);
    candidates.push(...attrCandidates(el));
    const byText = textCandidate(el);
    if (byText) candidates.push(byText);
    candidates.push(cssPath(el));
    const label = accessibleName(el) || norm(el.getAttribute("name")) || el.id || "";
    return {candidates, label: label.slice(0, 40), tag: el.tagName.toLowerCase(),
            field: el.getAttribute("name") || el.id || ""};
  }

  const isSecret = (el) => el.type === "password" ||
    SECRET_AUTOCOMPLETE.includes(norm(el.getAttribute("autocomplete")).toLowerCase());

  // A label forwards its click to its control: the label's click is the one recorded.
  let forwardedTo = null;

  document.addEventListener("click", (e) => {
    // detail 0: a click made by the keyboard (recorded as the key) or by a script.
    if (!e.isTrusted || e.detail === 0) return;
    const raw = e.target instanceof Element ? e.target : null;
    if (!raw) return;
    const el = raw.closest(ACTIONABLE) || raw;
    if (forwardedTo && el === forwardedTo) { forwardedTo = null; return; }
    if (el.tagName === "LABEL" && el.control) forwardedTo = el.control;
    if (isTextField(el) || el.tagName === "SELECT" || el.tagName === "OPTION") return;  // focusing, not acting
    send({type: "click", target: describe(el)});
  }, true);

  // Typing reports every keystroke; the field is described once, not per key.
  const described = new WeakMap();
  document.addEventListener("input", (e) => {
    const el = e.target;
    if (!(el instanceof Element) || !isTextField(el)) return;
    if (!described.has(el)) described.set(el, describe(el));
    const target = described.get(el);
    if (isSecret(el)) { send({type: "fill", target, secret: true}); return; }
    send({type: "fill", target, value: el.isContentEditable ? el.innerText : el.value});
  }, true);

  document.addEventListener("change", (e) => {
    const el = e.target;
    if (!(el instanceof HTMLSelectElement) || el.multiple) return;
    const option = el.options[el.selectedIndex];
    send({type: "select", target: describe(el), value: el.value, label: option ? norm(option.text) : ""});
  }, true);

  document.addEventListener("keydown", (e) => {
    if (!e.isTrusted || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
    const key = e.key === " " ? "Space" : e.key;
    if (!["Enter", "Tab", "Escape", "Space"].includes(key)) return;
    const el = e.target instanceof Element ? e.target : null;
    if (key === "Space" && el && isTextField(el)) return;  // a space typed into text is text
    const onPage = !el || el === document.body || el === document.documentElement;
    send({type: "press", key, target: onPage ? null : describe(el)});
  }, true);

  document.addEventListener("submit", () => send({type: "submit"}), true);
})();
"""
