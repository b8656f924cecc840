/* payreq dashboard: small comforts only. Every form works without this file. */
(function () {
  "use strict";
  if (!navigator.clipboard || !window.isSecureContext) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) { return; }
    var label = button.textContent;
    button.hidden = false;
    button.setAttribute("aria-live", "polite");
    button.addEventListener("click", function () {
      var text = target.value !== undefined && target.tagName === "INPUT" ? target.value : target.textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
})();

/* A running statement import ([data-refresh] on its page): fetch the page again every
   few seconds and swap its [data-live] parts in place, until it no longer runs; then
   say how it ended. Without this file, a <noscript> meta refresh reloads the page. */
(function () {
  "use strict";
  var marker = document.querySelector("[data-refresh]");
  if (!marker || !window.fetch || !window.DOMParser) { return; }
  var seconds = Math.max(1, parseInt(marker.getAttribute("data-refresh"), 10) || 2);
  var failures = 0;

  function swap(fresh) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), function (part) {
      var next = part.id ? fresh.getElementById(part.id) : null;
      if (next && next.innerHTML !== part.innerHTML) { part.innerHTML = next.innerHTML; }
    });
  }

  function ended() {
    marker.removeAttribute("data-refresh");
    var announce = document.getElementById("import-announce");
    var status = document.getElementById("import-status");
    var progress = document.getElementById("import-progress");
    if (announce && status) {
      announce.textContent = "Import " + status.textContent + (progress ? ": " + progress.textContent : "") + ".";
    }
  }

  function poll() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (answer) {
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        if (!fresh.getElementById("import-status")) { window.location.reload(); return; }  // signed out
        failures = 0;
        swap(fresh);
        if (fresh.querySelector("[data-refresh]")) { setTimeout(poll, seconds * 1000); } else { ended(); }
      })
      .catch(function () {
        failures += 1;
        setTimeout(poll, Math.min(30, seconds * (failures + 1)) * 1000);
      });
  }

  setTimeout(poll, seconds * 1000);
})();
