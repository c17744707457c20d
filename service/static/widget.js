/* Progressive enhancement for the widget page; the form also works without it. */
(function () {
  "use strict";
  var doc = document;

  function $(id) { return doc.getElementById(id); }

  // Tell the embedding page how tall we are, whenever that changes.
  function reportHeight() {
    if (window.parent === window) return;
    var height = doc.documentElement.scrollHeight;
    window.parent.postMessage({ type: "comments:height", height: height }, "*");
  }

  function loadCaptcha() {
    var refresh = $("cw-captcha-refresh");
    if (!refresh) return;
    fetch(refresh.getAttribute("data-captcha-url"), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (c) {
        $("cw-captcha-token").value = c.token;
        var img = $("cw-captcha-img");
        img.src = c.image;
        img.hidden = false;
        $("cw-captcha-audio").href = c.audio;
        $("cw-captcha").value = "";
      })
      .catch(function () {
        var alert = doc.querySelector(".cw-alert");
        if (alert) alert.textContent = refresh.getAttribute("data-error") || "";
      });
  }

  function setupCaptcha() {
    var refresh = $("cw-captcha-refresh");
    if (!refresh) return;
    refresh.addEventListener("click", loadCaptcha);
    $("cw-captcha-audio").addEventListener("click", function (event) {
      if (!this.href) return;
      event.preventDefault();
      new Audio(this.href).play();
    });
    if (!$("cw-captcha-token").value) loadCaptcha();
  }

  function setupCounter() {
    var body = $("cw-body"), counter = $("cw-counter");
    if (!body || !counter) return;
    var max = +body.getAttribute("data-max-length");
    function update() {
      var length = Array.from(body.value.replace(/\r\n?/g, "\n").trim()).length;
      counter.textContent = length + " / " + max;
      counter.classList.toggle("cw-over", length > max);
    }
    body.addEventListener("input", update);
    update();
  }

  function setupReplies() {
    var field = $("cw-reply-to"), banner = $("cw-replying");
    if (!field || !banner) return;
    doc.addEventListener("click", function (event) {
      var link = event.target.closest("[data-reply-to]");
      if (!link) return;
      event.preventDefault();
      field.value = link.getAttribute("data-reply-to");
      $("cw-replying-text").textContent = link.getAttribute("data-reply-label");
      banner.hidden = false;
      $("cw-body").focus();
      reportHeight();
    });
    $("cw-reply-cancel").addEventListener("click", function (event) {
      event.preventDefault();
      field.value = "";
      banner.hidden = true;
      reportHeight();
    });
  }

  doc.addEventListener("DOMContentLoaded", function () {
    setupCaptcha();
    setupCounter();
    setupReplies();
    reportHeight();
    if (window.ResizeObserver) new ResizeObserver(reportHeight).observe(doc.body);
    window.addEventListener("load", reportHeight);
  });
})();
