// Set the theme before the first paint so a dark-theme user never sees a white flash.
(function () {
  "use strict";
  var stored = null;
  try { stored = localStorage.getItem("inkdigit-theme"); } catch (e) { /* storage may be blocked */ }
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = stored === "dark" || stored === "light" ? stored : (dark ? "dark" : "light");
})();
