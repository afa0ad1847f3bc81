// tailsafe status page: keeps the server-rendered sections live from /api/events. Without this
// script the page is a snapshot; with it, each "section" event replaces one <section> with the
// same markup the server renders, and the browser's EventSource reconnects by itself.
//
// With several coordinator instances (ZooKeeper), the page follows the leader: when this
// instance does not lead, or has stopped answering, the script asks every instance's /api/role
// (the pages listed in the summary) which one leads, and goes to that one's page.
"use strict";
(function () {
  var state = "connecting";
  var failures = 0;  // errors since the stream was last open
  var asking = false;
  var words = {live: "live", reconnecting: "reconnecting\u2026", moving: "going to the leader\u2026"};

  function badge() {
    var el = document.getElementById("live");
    if (!el) return;
    el.textContent = words[state] || "connecting\u2026";
    el.className = "live " + state;
    el.setAttribute("data-live", state);
  }

  function originOf(url) {
    try {
      return new URL(url, location.href).origin;
    } catch (err) {
      return "";
    }
  }

  // The other instances' pages, as the summary lists them.
  function otherPages() {
    var out = [];
    var links = document.querySelectorAll("a[data-coordinator-page], a[data-leader-page]");
    for (var i = 0; i < links.length; ++i) {
      var page = links[i].href;
      if (originOf(page) !== location.origin && out.indexOf(page) < 0) out.push(page);
    }
    return out;
  }

  // The token this page was opened with, carried to the leader's page (instances of a cluster
  // usually share one); none when it came as a header or a cookie.
  function tokenQuery() {
    var m = /[?&]token=([^&#]*)/.exec(location.search);
    return m ? "?token=" + m[1] : "";
  }

  // Asks each page's instance whether it leads (an instance cut off by the network gets
  // kAskMs); goes to the one that leads in the highest term.
  var kAskMs = 4000;
  function follow(pages) {
    if (asking || !window.fetch || pages.length === 0) return;
    asking = true;
    var best = null;
    var left = pages.length;
    pages.forEach(function (page) {
      var abort = window.AbortController ? new AbortController() : null;
      var timer = setTimeout(function () { if (abort) abort.abort(); }, kAskMs);
      fetch(new URL("api/role", page).href, {cache: "no-store", credentials: "omit", signal: abort ? abort.signal : undefined})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (role) {
          if (role && role.leading === true && (!best || role.term > best.term)) best = {page: page, term: role.term};
        })
        .catch(function () {})
        .then(function () {
          clearTimeout(timer);
          if (--left > 0) return;
          asking = false;
          if (!best) return;
          state = "moving";
          badge();
          location.href = best.page + tokenQuery();
        });
    });
  }

  // This instance answers but does not lead: go to the one that does, once it answers.
  function checkLeader() {
    var summary = document.getElementById("summary");
    if (summary && summary.getAttribute("data-leading") === "false") follow(otherPages());
  }

  function connect() {
    if (!window.EventSource) return;  // a snapshot, as without script
    var events = new EventSource("api/events");
    events.addEventListener("open", function () {
      state = "live";
      failures = 0;
      badge();
    });
    events.addEventListener("error", function () {
      state = "reconnecting";  // EventSource tries again after the server's retry interval
      badge();
      // Twice without an answer: this instance may be gone for good; another may lead.
      if (++failures >= 2) follow(otherPages());
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
      if (msg.id === "summary") {
        badge();
        checkLeader();
      }
      if (focused) {
        var again = document.getElementById(msg.id);
        if (again) again.focus();
      }
    });
  }
  badge();
  connect();
  checkLeader();
})();
