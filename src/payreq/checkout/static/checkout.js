/* payreq checkout: a little progressive enhancement. Without it the page still
   works; with it the time left counts down, copy buttons appear, and the page moves
   on by itself when the payment's status changes (a bank transfer is matched). */
(function () {
  "use strict";
  var root = document.querySelector("[data-status-url]");
  if (!root) { return; }
  var statusUrl = root.getAttribute("data-status-url");
  var announce = document.getElementById("status-announcement");

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard || !window.isSecureContext) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      // the electronic form where the page prints another (an IBAN without its spaces)
      var value = button.getAttribute("data-copy-value");
      navigator.clipboard.writeText(value !== null ? value : target.textContent.trim()).then(function () {
        button.textContent = "Copied";
        if (announce) { announce.textContent = "Copied to the clipboard."; }
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
  });

  if (root.getAttribute("data-status") !== "pending") { return; }

  function reload() { window.location.replace(window.location.pathname); }

  var countdown = document.querySelector("time[data-countdown]");
  var expiresAt = Date.parse(root.getAttribute("data-expires-at"));
  var skew = Date.parse(root.getAttribute("data-now")) - Date.now();
  function plural(n, unit) { return n + " " + unit + (n === 1 ? "" : "s"); }
  function tick() {
    var seconds = Math.floor((expiresAt - (Date.now() + skew)) / 1000);
    if (seconds <= 0) { reload(); return; }
    var days = Math.floor(seconds / 86400), hours = Math.floor(seconds / 3600) % 24;
    var minutes = Math.floor(seconds / 60) % 60;
    var text = seconds < 60 ? "less than a minute"
      : days ? plural(days, "day") + (hours ? " " + plural(hours, "hour") : "")
      : hours ? plural(hours, "hour") + (minutes ? " " + plural(minutes, "minute") : "")
      : plural(minutes, "minute");
    if (countdown && countdown.textContent !== text) { countdown.textContent = text; }
    setTimeout(tick, Math.min(30000, Math.max(1000, (seconds % 60 + 1) * 1000)));
  }
  if (!isNaN(expiresAt) && !isNaN(skew)) { tick(); }

  var delay = 2000;
  function schedule() { setTimeout(poll, document.hidden ? Math.max(delay, 15000) : delay); }
  function poll() {
    fetch(statusUrl, { cache: "no-store", credentials: "omit", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (answer.status === 410) { return { status: "unavailable" }; } // the checkout was shut
        return answer.ok ? answer.json() : null;
      })
      .then(function (body) {
        if (body && body.status && body.status !== "pending") {
          if (announce) { announce.textContent = "The payment is " + body.status + "."; }
          reload();
          return;
        }
        delay = Math.min(delay * 1.5, 20000);
        schedule();
      })
      .catch(function () { delay = Math.min(delay * 2, 60000); schedule(); });
  }
  schedule();
})();
