// A form that came back with errors: focus goes to their summary, which a screen reader then
// reads. Without JavaScript the page opens at the form (its address ends in #sign).
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
})();
