// Booth and console: idle sign-out with a warning first, and live queue updates.
(function () {
  "use strict";
  // technician camera previews: a fresh frame with its quality overlay every 1.5 s
  Array.prototype.forEach.call(document.querySelectorAll("img[data-live-src]"), function (img) {
    setInterval(function () {
      var next = new Image();
      next.onload = function () { img.src = next.src; };
      next.src = img.dataset.liveSrc + "?t=" + Date.now();
    }, 1500);
  });
})();
(function () {
  "use strict";
  var body = document.body;
  var idle = parseFloat(body.dataset.idle || "0"), warnBefore = parseFloat(body.dataset.idleWarn || "0");
  var area = body.dataset.area || "booth";
  var dialog = document.getElementById("idle-warning");
  if (!dialog || !idle) return;
  var last = Date.now();
  function stay() {
    fetch("/" + area + "/stay", { method: "POST", credentials: "same-origin" }).then(function (r) {
      if (r.status === 204) { last = Date.now(); dialog.hidden = true; } else { window.location.assign("/" + area + "/signin?idle=1"); }
    });
  }
  document.getElementById("stay").addEventListener("click", stay);
  setInterval(function () {
    var left = idle - (Date.now() - last) / 1000;
    if (left <= 0) { window.location.assign("/" + area + "/signin?idle=1"); return; }
    if (left <= warnBefore && dialog.hidden) { dialog.hidden = false; document.getElementById("stay").focus(); }
  }, 500);
  if (area === "booth" && document.querySelector("table.queue, .find")) {
    var version = null, scans = null;
    var source = new EventSource("/booth/stream");
    source.onmessage = function (ev) {
      var s = JSON.parse(ev.data);
      // a document scanned on the booth's reader opens its transaction
      if (scans !== null && s.scan[0] !== scans && /^[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(s.scan[1])) {
        source.close(); window.location.assign("/booth/t/" + s.scan[1]); return;
      }
      scans = s.scan[0];
      if (version !== null && s.queue !== version && document.activeElement.tagName !== "INPUT") window.location.reload();
      version = s.queue;
    };
  }
})();
// Manual MRZ entry: the typed lines checked by the parser as the officer types (corrections and errors shown).
(function () {
  "use strict";
  var box = document.getElementById("lines"), out = document.getElementById("mrz-result");
  if (!box || !out) return;
  var timer = null, seq = 0;
  function item(text, cls) {
    var li = document.createElement("li");
    li.dir = "ltr";
    if (cls) li.className = cls;
    li.textContent = text;
    return li;
  }
  function show(r) {
    out.textContent = "";
    var p = document.createElement("p");
    p.className = r.valid ? "ok" : "bad";
    p.textContent = r.valid ? out.dataset.ok : out.dataset.bad;
    out.appendChild(p);
    var ul = document.createElement("ul");
    r.corrections.forEach(function (c) { ul.appendChild(item(out.dataset.corrected + ": " + c)); });
    r.errors.forEach(function (e) { ul.appendChild(item(e, "bad")); });
    Object.keys(r.fields).forEach(function (k) { ul.appendChild(item(k + ": " + r.fields[k])); });
    out.appendChild(ul);
  }
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch("/booth/mrz/check", {method: "POST", credentials: "same-origin",
                                 headers: {"content-type": "application/json"},
                                 body: JSON.stringify({lines: box.value})})
        .then(function (res) { return res.ok ? res.json() : null; })
        .then(function (r) { if (r && mine === seq) show(r); })
        .catch(function () {});
    }, 250);
  });
})();
