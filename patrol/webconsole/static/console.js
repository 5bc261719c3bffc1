// The compare view's modes: side by side, a slider that uncovers the actual screen over
// the baseline (a red divider where they meet, "actual" and "baseline" on either side),
// and an onion skin that fades between them. Progressive: without this script the page
// shows the three pictures side by side.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("compare");
  if (!box) { return; }
  var range = document.querySelector(".modes .blend");
  var row = document.querySelector(".modes .slider-row");
  var actual = box.querySelector(".pane-actual");
  var actualImg = actual ? actual.querySelector("img") : null;
  var base = box.querySelector(".pane-baseline img");
  function apply() {
    var v = Number(range.value) / 100;
    if (!actual) { return; }
    if (box.classList.contains("slider")) {
      actual.style.opacity = "1";
      actual.style.width = (v * 100) + "%";
      if (actualImg && base) { actualImg.style.width = base.clientWidth + "px"; }
    } else if (box.classList.contains("onion")) {
      actual.style.width = "100%";
      actual.style.opacity = String(v);
      if (actualImg) { actualImg.style.width = ""; }
    } else {
      actual.style.width = ""; actual.style.opacity = "";
      if (actualImg) { actualImg.style.width = ""; }
    }
  }
  document.querySelectorAll(".modes button").forEach(function (b) {
    b.addEventListener("click", function () {
      box.classList.remove("side", "slider", "onion");
      box.classList.add(b.dataset.mode);
      document.querySelectorAll(".modes button").forEach(function (o) { o.classList.toggle("on", o === b); });
      row.hidden = b.dataset.mode === "side";
      apply();
    });
  });
  range.addEventListener("input", apply);
  window.addEventListener("resize", apply);
});
