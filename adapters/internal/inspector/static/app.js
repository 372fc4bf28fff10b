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

  var es = new EventSource("/inspector/events");
  var live = document.getElementById("live");
  es.onopen = function () { if (live) live.hidden = false; };
  es.onerror = function () { if (live) live.hidden = true; };

  es.addEventListener("delivery", function (m) {
    var d = JSON.parse(m.data);
    if (detail && String(d.seq) === detail[1]) { location.reload(); return; }
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
    var d = JSON.parse(m.data);
    if (page !== "deadletters") return;
    var cell = document.querySelector('#replayed tr[data-key="' + CSS.escape(d.key) + '"] .outcome');
    if (cell) cell.textContent = d.outcome;
    // Back among the dead letters, or gone for good: show the list as it is now.
    if (d.outcome !== "retry") location.replace("/inspector/deadletters");
  });
})();
