// Kiosk live updates: a new step reloads the page (server-rendered); hints and the timeout warning update in place.
(function () {
  "use strict";
  var body = document.body;
  var step = body.dataset.step, code = body.dataset.code;
  var preview = document.getElementById("preview");
  if (preview) {
    var busy = false;
    setInterval(function () {
      if (busy) return;
      busy = true;
      var img = new Image();
      img.onload = function () { preview.src = img.src; busy = false; };
      img.onerror = function () { busy = false; };
      img.src = "/kiosk/camera.jpg?t=" + Date.now();
    }, 250);
  }
  function setText(name, text) {
    var el = document.querySelector('[data-live="' + name + '"]');
    if (el && text !== undefined && el.textContent !== text) el.textContent = text;
  }
  var source = new EventSource("/kiosk/stream");
  // a refused stream (e.g. 429) is not retried by the browser: reload, which renders the current step
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) setTimeout(function () { window.location.reload(); }, 2000);
  };
  source.onmessage = function (ev) {
    var s = JSON.parse(ev.data);
    // the finger step asks for one finger after another: a new finger is a new picture
    var shown = document.querySelector("svg[data-finger]");
    var newFinger = shown && s.finger && s.finger !== shown.getAttribute("data-finger");
    if (s.step !== step || s.code !== code || newFinger) { source.close(); window.location.replace("/kiosk"); return; }
    if (s.feedback && s.feedback.length) setText("feedback", s.feedback.join(" "));
    var warning = document.getElementById("warning");
    if (warning) {
      if (s.warn && warning.hidden) {
        warning.hidden = false;
        var b = warning.querySelector("button"); if (b) b.focus();
      } else if (!s.warn && !warning.hidden) { warning.hidden = true; }
      if (s.warn) setText("resetting", s.resetting);
    }
  };
})();
// Spoken prompts (the traveller's "Read aloud" toggle): play the screen's prompt when it loads.
(function () {
  "use strict";
  var audio = document.getElementById("speech");
  if (audio && audio.dataset.autoplay === "1") {
    var p = audio.play();
    if (p && p.catch) p.catch(function () { /* the browser wants a touch first: the player stays visible */ });
  }
})();
