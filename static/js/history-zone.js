// Preselect the browser's own time zone in the first-visit offer (without JavaScript the
// listener picks it from the list; nothing is saved until they press the button).
(function () {
  "use strict";
  var select = document.querySelector("select[data-guess-zone]");
  if (!select || typeof Intl === "undefined" || !Intl.DateTimeFormat) {
    return;
  }
  var guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (var i = 0; i < select.options.length; i += 1) {
    if (select.options[i].value === guess) {
      select.value = guess;
      return;
    }
  }
})();
