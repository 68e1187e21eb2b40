// Times in the viewer's zone, live countdowns, and the browser's zone for scheduled starts.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });
  document.querySelectorAll("time[data-local]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) { el.textContent = format.format(when); }
  });
  document.querySelectorAll("input[name='time_zone']").forEach(function (el) {
    if (!el.value) { el.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }
  });

  function left(ms) {
    if (ms <= 0) { return "ended"; }
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  }
  var timers = document.querySelectorAll("[data-countdown]");
  function tick() {
    var now = Date.now();
    timers.forEach(function (el) {
      el.textContent = left(new Date(el.getAttribute("data-countdown")) - now);
    });
  }
  if (timers.length) { tick(); setInterval(tick, 1000); }
})();

// Provisioning: while a target is being granted or removed, ask provisioning.json every 3 s and
// rewrite the states in place (textContent only: the server's words are never parsed as HTML).
(function () {
  "use strict";
  var MOVING = ["pending", "revoking"], EVERY = 3000, GIVE_UP_AFTER = 5;
  var boards = document.querySelectorAll("[data-provisioning-url]");
  if (!boards.length) { return; }
  var queries = [];
  boards.forEach(function (el) { queries.push(el.getAttribute("data-provisioning-query")); });
  var url = boards[0].getAttribute("data-provisioning-url") + "?" + queries.join("&");
  var failures = 0;

  function moving(state) { return MOVING.indexOf(state) !== -1; }
  function shown() {
    var found = false;
    boards.forEach(function (board) {
      board.querySelectorAll("[data-grant]").forEach(function (el) {
        if (moving(el.getAttribute("data-grant-state"))) { found = true; }
      });
    });
    return found;
  }
  function show(answer) {
    answer.grants.forEach(function (grant) {
      var el = document.querySelector("[data-grant='" + grant.id + "']");
      if (!el) { return; }
      el.setAttribute("data-grant-state", grant.state);
      var label = el.querySelector("[data-grant-label]");
      label.textContent = grant.label;
      label.className = "status grant-" + grant.state;
      el.querySelector("[data-grant-text]").textContent = grant.text;
    });
    answer.assignments.forEach(function (assignment) {
      var lag = document.querySelector("[data-provisioning-lag='" + assignment.id + "']");
      if (!lag) { return; }
      lag.textContent = assignment.lag;
      lag.hidden = !assignment.lag;
    });
    return answer.grants.some(function (grant) { return moving(grant.state); });
  }
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (answer) {
        failures = 0;
        if (show(answer)) { setTimeout(poll, EVERY); }
      })
      .catch(function () {
        // Signed out, offline, or a new deploy: try a few times, then leave the page as it is.
        failures += 1;
        if (failures < GIVE_UP_AFTER) { setTimeout(poll, EVERY); }
      });
  }
  if (shown()) { setTimeout(poll, EVERY); }
})();
