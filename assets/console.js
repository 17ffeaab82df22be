// The staff console's one script: progressive enhancement only. Every page works without it.
// - Inbox: new cases appear without a reload, and the count of new ones shows in the title.
// - Case page: keyboard triage (play/pause, ±5 s, speed, jump to the fields, next case).
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName));
  }

  // ---- Inbox: poll for cases newer than the newest row shown.
  var inbox = document.querySelector("table.inbox[data-poll]");
  if (inbox) {
    var body = inbox.querySelector("tbody");
    var baseTitle = document.title;
    var arrived = 0;
    var poll = function () {
      var url = inbox.getAttribute("data-poll") + "&despues_id=" + encodeURIComponent(inbox.getAttribute("data-newest") || "0");
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (!html) { return; }
          var holder = document.createElement("tbody");
          holder.innerHTML = html; // server-rendered and escaped by the server's templates
          var rows = holder.querySelectorAll("tr[data-id]");
          if (!rows.length) { return; }
          var newest = Number(inbox.getAttribute("data-newest") || "0");
          for (var i = rows.length - 1; i >= 0; i--) {
            rows[i].classList.add("new");
            body.insertBefore(rows[i], body.firstChild);
            newest = Math.max(newest, Number(rows[i].getAttribute("data-id")));
          }
          inbox.setAttribute("data-newest", String(newest));
          // The counts of the status bar take the new cases in.
          var bump = function (code) {
            var n = document.querySelector('[data-count="' + code + '"] .n');
            if (n) { n.textContent = String(Number(n.textContent) + 1); }
          };
          for (var j = 0; j < rows.length; j++) {
            var code = rows[j].getAttribute("data-status");
            if (code !== "closed") { bump("open"); }
            bump(code);
          }
          arrived += rows.length;
          document.title = "(" + arrived + ") " + baseTitle;
          var empty = document.getElementById("empty-inbox");
          if (empty) { empty.remove(); }
          var live = document.getElementById("inbox-live");
          if (live) { live.textContent = arrived === 1 ? "Llegó 1 caso nuevo." : "Llegaron " + arrived + " casos nuevos."; }
        })
        .catch(function () { /* the next poll tries again */ });
    };
    window.setInterval(poll, Number(inbox.getAttribute("data-interval") || "5000"));
    window.addEventListener("focus", function () { arrived = 0; document.title = baseTitle; });
  }

  // ---- Case page: the player, its speed, and the shortcuts.
  var audio = document.getElementById("recording");
  var speed = document.getElementById("speed");
  if (audio && speed) {
    speed.addEventListener("change", function () { audio.playbackRate = Number(speed.value) || 1; });
  }
  var focusOn = function (id) {
    var el = document.getElementById(id);
    if (el) { el.focus(); if (el.scrollIntoView) { el.scrollIntoView({ block: "center" }); } }
  };
  document.addEventListener("keydown", function (event) {
    // Escape leaves a field, so the shortcuts work again without the mouse.
    if (event.key === "Escape" && typing(event)) { event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) { return; }
    var key = event.key;
    if (audio && (key === " " || key === "k")) {
      if (audio.paused) { audio.play(); } else { audio.pause(); }
    } else if (audio && (key === "j" || key === "ArrowLeft")) {
      audio.currentTime = Math.max(0, audio.currentTime - 5);
    } else if (audio && (key === "l" || key === "ArrowRight")) {
      audio.currentTime = Math.min(audio.duration || 0, audio.currentTime + 5);
    } else if (audio && speed && key === "s") {
      speed.selectedIndex = (speed.selectedIndex + 1) % speed.options.length;
      audio.playbackRate = Number(speed.value) || 1;
    } else if (key === "c") {
      focusOn("category");
    } else if (key === "u") {
      focusOn("urgency");
    } else if (key === "d") {
      focusOn("street");
    } else if (key === "r") {
      focusOn("department");
    } else if (key === "n") {
      var next = document.querySelector("a[rel=next]");
      if (next) { window.location.href = next.href; } else { return; }
    } else {
      return;
    }
    event.preventDefault();
  });
})();
