// The import's page: polls its status JSON and shows the counts as they grow;
// once the import has ended, loads the page again for the result and the links.
// Without JavaScript the page's "Check again" link does the same by hand.
(function () {
  "use strict";
  var box = document.querySelector("[data-status-url]");
  var ended = ["done", "failed", "cancelled"];
  if (!box || ended.indexOf(box.getAttribute("data-state")) >= 0) {
    return;
  }
  var url = box.getAttribute("data-status-url");
  var words = { queued: "Waiting for the worker…", running: "Reading your files…" };

  function show(status) {
    ["files", "entries", "added", "duplicates", "skipped"].forEach(function (name) {
      var field = box.querySelector('[data-count="' + name + '"]');
      if (field) {
        field.textContent = String(status[name]);
      }
    });
    var text = box.querySelector('[data-field="state-text"]');
    if (text && words[status.state]) {
      text.textContent = words[status.state];
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (status) {
        if (status && ended.indexOf(status.state) >= 0) {
          window.location.reload();
          return;
        }
        if (status) {
          show(status);
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }

  window.setTimeout(poll, 1000);
})();
