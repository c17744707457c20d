/* Fills every [data-comment-count="KEY"] element with the article's comment count. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script ? script.src : "/", location.href).origin;
  var BATCH = 200;
  // The service's rule for article keys; it refuses a whole request over one bad key.
  var KEY = /^[A-Za-z0-9_.-]{1,128}$/;
  var warned = {};

  function valid(key) {
    return KEY.test(key) && key !== "." && key !== "..";
  }

  function fill(nodes, counts) {
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-comment-count");
      if (Object.prototype.hasOwnProperty.call(counts, key)) {
        nodes[i].textContent = String(counts[key]);
      }
    }
  }

  function fetchBatch(keys) {
    var query = keys.map(function (k) { return "article=" + encodeURIComponent(k); }).join("&");
    var url = base + "/api/v1/counts";
    // Short lists use GET (cacheable by a CDN); long ones POST to stay under URL limits.
    // "no-cache": revalidate with the ETag (a cheap 304) so a new approval shows at once.
    var request = (url.length + query.length < 2000)
      ? fetch(url + "?" + query, { cache: "no-cache" })
      : fetch(url, {
          method: "POST",
          cache: "no-cache",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ articles: keys })
        });
    // A refused or failed batch leaves its elements as they are.
    return request.then(function (r) {
      if (r.ok) return r.json();
      console.warn("comments: counts request failed (HTTP " + r.status + ")");
      return { counts: {} };
    }).catch(function () { return { counts: {} }; });
  }

  function refresh() {
    var nodes = document.querySelectorAll("[data-comment-count]");
    var seen = {}, keys = [], invalid = [];
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-comment-count");
      if (Object.prototype.hasOwnProperty.call(seen, key)) continue;
      seen[key] = 1;
      if (valid(key)) keys.push(key);
      else if (!Object.prototype.hasOwnProperty.call(warned, key)) {
        warned[key] = 1;
        invalid.push(JSON.stringify(key));
      }
    }
    if (invalid.length) console.warn("comments: invalid article keys ignored: " + invalid.join(", "));
    // Sorted, so that every page listing the same articles asks the same URL (one CDN entry).
    keys.sort();
    var batches = [];
    for (var j = 0; j < keys.length; j += BATCH) {
      batches.push(fetchBatch(keys.slice(j, j + BATCH)).then(function (data) {
        fill(nodes, (data && data.counts) || {});
      }));
    }
    return Promise.all(batches);
  }

  window.CommentCounts = { refresh: refresh };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
