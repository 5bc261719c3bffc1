// The overview's "Running now": the server pushes the list (Server-Sent Events) whenever
// it changes: each journey running and its schedules. Text only (textContent), never markup.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("running");
  if (!box || !window.EventSource) { return; }
  var list = box.querySelector(".running-list");
  var note = box.querySelector(".note");
  var source = new EventSource(box.dataset.stream);
  source.addEventListener("running", function (e) {
    var data = JSON.parse(e.data);
    list.replaceChildren();
    data.running.forEach(function (r) {
      var li = document.createElement("li");
      var name = document.createElement("strong");
      name.textContent = r.journey;
      var schedules = document.createElement("small");
      schedules.textContent = " " + r.schedules.join(", ");
      li.append(name, schedules);
      list.appendChild(li);
    });
    note.textContent = data.note;
    box.dataset.events = String(Number(box.dataset.events || "0") + 1);
  });
});
