// Times are stored and sent in UTC; each <time datetime="..."> is shown in the viewer's own
// time zone (the UTC text stays as the element's title). A static file: the CSP allows no inline script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var fmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (isNaN(d.getTime())) { return; }
    if (!t.title) { t.title = t.textContent; }
    t.textContent = fmt.format(d);
    t.dataset.local = "1";
  });
});
