// The inspector's live updates: rows arrive over server-sent events; the
// lists themselves are plain HTML and work without this script.
(function () {
  "use strict";
  if (!window.EventSource) return;
  var page = document.body.dataset.page;
  var params = new URLSearchParams(location.search);
  var want = { type: params.get("type") || "", outcome: params.get("outcome") || "", q: (params.get("q") || "").trim() };
  var detail = location.pathname.match(/\/delivery\/(\d+)$/);

  function keep(d) {
    if (want.type && d.type !== want.type) return false;
    if (want.outcome && d.outcome !== want.outcome) return false;
    if (want.q && (d.id || "").indexOf(want.q) < 0 && (d.job || "").indexOf(want.q) < 0) return false;
    return true;
  }

  // refresh shows the page's main part as the server has it now, without
  // a navigation (the detail of one delivery, the dead letters).
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.querySelector("main"), main = document.querySelector("main");
      if (fresh && main) main.innerHTML = fresh.innerHTML;
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  var es = new EventSource("/inspector/events");
  var live = document.getElementById("live");
  es.onopen = function () {
    if (live) live.hidden = false;
    // What changed between the page's rendering and the stream's start.
    if (detail || page === "deadletters") refresh();
  };
  es.onerror = function () { if (live) live.hidden = true; };

  es.addEventListener("delivery", function (m) {
    var d = JSON.parse(m.data);
    if (detail && String(d.seq) === detail[1]) { refresh(); return; }
    if (page !== "deliveries" || detail) return;
    var body = document.querySelector("#deliveries tbody");
    if (!body) return;
    var old = document.getElementById("d-" + d.seq);
    if (!keep(d)) { if (old) old.remove(); return; }
    var t = document.createElement("tbody");
    t.innerHTML = d.html;
    var row = t.firstElementChild;
    if (old) { old.replaceWith(row); } else { body.insertBefore(row, body.firstChild); }
    while (body.rows.length > 1000) body.deleteRow(body.rows.length - 1);
    var empty = document.getElementById("empty");
    if (empty) empty.hidden = true;
  });

  es.addEventListener("replay", function (m) {
    if (page === "deadletters") refresh();
  });
})();
