// tailsafe status page: keeps the server-rendered sections live from /api/events. Without this
// script the page is a snapshot; with it, each "section" event replaces one <section> with the
// same markup the server renders, and the browser's EventSource reconnects by itself.
"use strict";
(function () {
  var state = "connecting";
  function badge() {
    var el = document.getElementById("live");
    if (!el) return;
    el.textContent = state === "live" ? "live" : state === "reconnecting" ? "reconnecting\u2026" : "connecting\u2026";
    el.className = "live " + state;
    el.setAttribute("data-live", state);
  }
  function connect() {
    if (!window.EventSource) return;  // a snapshot, as without script
    var events = new EventSource("api/events");
    events.addEventListener("open", function () {
      state = "live";
      badge();
    });
    events.addEventListener("error", function () {
      state = "reconnecting";  // EventSource tries again after the server's retry interval
      badge();
    });
    events.addEventListener("section", function (e) {
      var msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      var old = document.getElementById(msg.id);
      if (!old || typeof msg.html !== "string") return;
      var focused = document.activeElement && old.contains(document.activeElement);
      old.outerHTML = msg.html;
      if (msg.id === "summary") badge();
      if (focused) {
        var again = document.getElementById(msg.id);
        if (again) again.focus();
      }
    });
  }
  badge();
  connect();
})();
