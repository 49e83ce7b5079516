// driftloop dashboard: refresh the page's content in place every `data-refresh` seconds
// (keeps the scroll position; without JavaScript a <noscript> meta refresh does it).
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh") || 0);
  var status = document.getElementById("refresh-status");
  var toggle = document.getElementById("refresh-toggle");
  if (!seconds || !window.fetch || !window.DOMParser) { return; }
  var paused = false;
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.textContent = paused ? "resume" : "pause";
    if (!paused) { refresh(); }
  });

  function refresh() {
    if (paused || document.hidden) { return; }
    fetch(window.location.href, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (res) {
        if (!res.ok) { throw new Error("HTTP " + res.status); }
        return res.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        ["serving-pill", "content"].forEach(function (id) {
          var fresh = doc.getElementById(id);
          var current = document.getElementById(id);
          if (!fresh || !current) { throw new Error("unexpected page"); }
          current.replaceWith(document.importNode(fresh, true));
        });
        document.title = doc.title;
        var freshStatus = doc.getElementById("refresh-status");
        status.textContent = freshStatus ? freshStatus.textContent : "updated";
        status.classList.remove("stale");
      })
      .catch(function (err) {
        status.textContent = "refresh failed (" + err.message + "); retrying";
        status.classList.add("stale");
      });
  }
  window.setInterval(refresh, seconds * 1000);
}());
