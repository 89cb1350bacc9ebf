// The proof of work on the signing form: the ALTCHA widget (served from /static/vendor, built
// from the npm registry) with its PBKDF2 worker and our own translated strings. Without
// JavaScript none of this runs and the form is sent without it, which the server accepts.
(function () {
  "use strict";
  var altcha = globalThis.$altcha;
  if (!altcha) return;
  altcha.algorithms.set("PBKDF2/SHA-256", function () {
    return new Worker("/static/vendor/altcha/pbkdf2.js");
  });
  document.querySelectorAll("altcha-widget[data-strings]").forEach(function (widget) {
    try {
      altcha.i18n.set(widget.getAttribute("language") || "fr", JSON.parse(widget.dataset.strings));
    } catch (e) {
      // Keep the widget's own words rather than fail.
    }
  });
})();
