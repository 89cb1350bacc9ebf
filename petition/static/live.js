/* Keeps a campaign's count and progress bar live. Ours, no framework, nothing fetched elsewhere.
   Without JavaScript (or EventSource) the page simply shows the count it was served with. */
(function () {
  "use strict";
  var root = document.querySelector("[data-live]");
  if (!root || typeof window.EventSource !== "function") {
    return;
  }
  var lang = document.documentElement.lang || "fr";
  var format = new Intl.NumberFormat(lang);
  var one = function (n) { return lang === "fr" ? n <= 1 : n === 1; };

  function show(data) {
    var count = Number(data.count);
    if (!isFinite(count)) {
      return;
    }
    root.querySelectorAll("[data-live-count]").forEach(function (el) {
      el.textContent = format.format(count);
    });
    root.querySelectorAll("[data-live-label]").forEach(function (el) {
      el.textContent = el.getAttribute(one(count) ? "data-one" : "data-many");
    });
    root.querySelectorAll("progress[data-live-progress]").forEach(function (el) {
      el.value = Math.min(count, el.max);
    });
  }

  var source = new EventSource(root.getAttribute("data-live"));
  source.addEventListener("count", function (event) {
    try {
      show(JSON.parse(event.data));
    } catch (ignored) {
      /* a malformed event changes nothing on the page */
    }
  });
})();
