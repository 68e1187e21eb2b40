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
