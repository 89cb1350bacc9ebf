// A form that came back with errors: its address ends in #sign, the id of their summary, so the
// browser scrolls there and focuses it by itself. Once the page has loaded, make sure of it (an
// older browser may scroll without moving the focus), so that a screen reader reads the errors.
(function () {
  "use strict";
  window.addEventListener("load", function () {
    var summary = document.querySelector(".error-summary");
    if (summary && document.activeElement !== summary) summary.focus();
  });
})();
