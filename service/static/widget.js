/* Progressive enhancement for the widget page; every feature also works as a plain form. */
(function () {
  "use strict";
  var doc = document;
  var root, article, api, text = {};

  function $(id) { return doc.getElementById(id); }

  // Tell the embedding page how tall we are, whenever that changes.
  function reportHeight() {
    if (window.parent === window) return;
    // The body's own height: the document's scrollHeight never drops below the frame's.
    var height = Math.ceil(doc.body.getBoundingClientRect().height);
    window.parent.postMessage({ type: "comments:height", height: height }, "*");
  }

  /* Memory of this reader's own comments and likes. The frame's own storage is
     used where the browser allows it; where a cross-site frame gets none (third-
     party storage blocked), embed.js keeps it in the portal page's storage. */
  var saved = {};
  var portal = null;  // the embedding page's origin, when the bridge answers

  function store(key, value) {
    if (value === undefined) return saved[key] === undefined ? null : saved[key];
    if (value === null) delete saved[key];
    else saved[key] = value;
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* blocked: the portal page keeps it, below */ }
    if (portal) window.parent.postMessage({ type: "comments:save", key: key, value: value }, portal);
  }

  function loadSaved(done) {
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k.indexOf("cw:") === 0) saved[k] = JSON.parse(localStorage.getItem(k));
      }
    } catch (e) { /* blocked */ }
    var origin = "";
    try { origin = doc.referrer ? new URL(doc.referrer).origin : ""; } catch (e) { origin = ""; }
    if (window.parent === window || !origin || origin === "null") return done();
    var finished = false;
    function finish() { if (!finished) { finished = true; done(); } }
    window.addEventListener("message", function (event) {
      var data = event.data;
      if (event.source !== window.parent || event.origin !== origin) return;
      if (!data || data.type !== "comments:stored") return;
      portal = origin;
      Object.keys(data.values || {}).forEach(function (k) {
        if (k.indexOf("cw:") === 0 && saved[k] === undefined) saved[k] = data.values[k];
      });
      finish();
    });
    window.parent.postMessage({ type: "comments:load" }, origin);
    setTimeout(finish, 400);  // an older embed that does not answer
  }

  function request(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json", Accept: "application/json" }
                    : { Accept: "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().then(function (data) { return { status: r.status, ok: r.ok, data: data }; },
                           function () { return { status: r.status, ok: false, data: {} }; });
    });
  }

  function say(message, assertive) {
    var box = assertive ? doc.querySelector(".cw-alert") : $("cw-status");
    if (!box) return;
    box.textContent = "";
    var p = doc.createElement("p");
    p.className = assertive ? "" : "cw-notice";
    p.textContent = message;
    box.appendChild(p);
    reportHeight();
  }

  /* ---- captcha ---- */
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
      .catch(function () { say(text.captchaFailed, true); });
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

  /* ---- form ---- */
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

  function clearErrors(form) {
    form.querySelectorAll(".cw-error[data-js]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    form.querySelector(".cw-alert").textContent = "";
  }

  var FIELD_INPUT = { author: "cw-author", body: "cw-body", captcha_answer: "cw-captcha", reply_to: "cw-body" };

  function showErrors(form, error) {
    var fields = error.fields || {};
    Object.keys(fields).forEach(function (name) {
      var input = $(FIELD_INPUT[name] || "cw-body");
      var p = doc.createElement("p");
      p.className = "cw-error";
      p.id = "cw-" + name + "-js-error";
      p.setAttribute("data-js", "1");
      p.textContent = fields[name].message;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
      input.closest(".cw-field").appendChild(p);
    });
    say(error.message, true);
  }

  function setupForm() {
    var form = $("comment-form");
    if (!form || !window.fetch) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var button = form.querySelector(".cw-submit");
      button.disabled = true;
      var data = {};
      ["author", "body", "reply_to", "captcha_token", "captcha_answer", "title", "url"].forEach(function (n) {
        var el = form.elements[n];
        if (el && el.value !== "") data[n] = el.value;
      });
      if (data.reply_to) data.reply_to = +data.reply_to;
      request("POST", api + "/comments?lang=" + encodeURIComponent(doc.documentElement.lang), data)
        .then(function (res) {
          button.disabled = false;
          loadCaptcha();  // a token is spent by every attempt
          if (!res.ok) return showErrors(form, (res.data && res.data.error) || { message: text.failed });
          if (res.data.status === "approved") { location.reload(); return; }
          rememberOwn({ id: res.data.id, key: res.data.owner_key, author: data.author || text.nickname,
                        body: data.body, reply_to: data.reply_to || null });
          form.elements.body.value = "";
          cancelReply();
          setupCounter();
          say(text.submitted);
        }, function () { button.disabled = false; say(text.failed, true); });
    });
  }

  /* ---- own pending comments (only in this browser) ---- */
  function ownKey() { return "cw:own:" + article; }

  function rememberOwn(entry) {
    var own = store(ownKey()) || [];
    own.unshift(entry);
    store(ownKey(), own.slice(0, 20));
    renderOwn(own.slice(0, 20));
  }

  function renderOwn(entries) {
    var box = $("cw-own");
    if (!box) return;
    box.textContent = "";
    entries.forEach(function (entry) {
      var li = doc.createElement("li");
      li.className = "cw-item cw-own";
      li.id = "own-" + entry.id;
      var head = doc.createElement("p");
      head.className = "cw-meta";
      var who = doc.createElement("strong");
      who.className = "cw-author";
      who.textContent = entry.author;
      var badge = doc.createElement("span");
      badge.className = "cw-badge";
      badge.textContent = text.pending;
      head.appendChild(who);
      head.appendChild(badge);
      var body = doc.createElement("div");
      body.className = "cw-body";
      body.textContent = entry.body;
      var remove = doc.createElement("button");
      remove.type = "button";
      remove.className = "cw-link";
      remove.textContent = text.remove;
      remove.addEventListener("click", function () { withdraw(entry); });
      li.appendChild(head);
      li.appendChild(body);
      li.appendChild(remove);
      box.appendChild(li);
    });
    box.hidden = !entries.length;
    reportHeight();
  }

  function withdraw(entry) {
    request("DELETE", api + "/comments/" + entry.id, { key: entry.key }).then(function (res) {
      if (res.ok || res.status === 404 || res.status === 409) {
        var own = (store(ownKey()) || []).filter(function (e) { return e.id !== entry.id; });
        store(ownKey(), own.length ? own : null);
        renderOwn(own);
        say(res.ok ? text.removed : text.notPending);
      }
    });
  }

  function refreshOwn() {
    var own = store(ownKey()) || [];
    if (!own.length) return;
    renderOwn(own);
    request("POST", api + "/comments/own", {
      comments: own.map(function (e) { return { id: e.id, key: e.key }; })
    }).then(function (res) {
      if (!res.ok) return;
      var pending = {};
      res.data.comments.forEach(function (c) { if (c.status === "pending") pending[c.id] = 1; });
      own = own.filter(function (e) { return pending[e.id]; });
      store(ownKey(), own.length ? own : null);
      renderOwn(own);
    });
  }

  /* ---- replies ---- */
  function cancelReply() {
    var field = $("cw-reply-to"), banner = $("cw-replying");
    if (!field || !banner) return;
    field.value = "";
    banner.hidden = true;
    reportHeight();
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
      cancelReply();
      $("cw-body").focus();
    });
  }

  /* ---- likes ---- */
  function setupLikes() {
    var liked = store("cw:liked") || {};
    doc.querySelectorAll("form.cw-like").forEach(function (form) {
      var id = form.getAttribute("data-id");
      var button = form.querySelector("button");
      if (liked[id]) button.setAttribute("aria-pressed", "true");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (button.getAttribute("aria-pressed") === "true") return;
        request("POST", api + "/comments/" + id + "/like").then(function (res) {
          if (!res.ok) return say((res.data.error || {}).message || text.failed, true);
          form.querySelector(".cw-like-count").textContent = res.data.likes;
          button.setAttribute("aria-pressed", "true");
          liked[id] = 1;
          store("cw:liked", liked);
        });
      });
    });
  }

  doc.addEventListener("DOMContentLoaded", function () {
    root = doc.querySelector(".cw");
    if (!root) return;
    article = root.getAttribute("data-article");
    api = root.getAttribute("data-api");
    var strings = $("cw-text");
    text = strings ? JSON.parse(strings.textContent) : {};
    setupCaptcha();
    setupCounter();
    setupReplies();
    setupForm();
    loadSaved(function () {
      setupLikes();
      refreshOwn();
    });
    reportHeight();
    if (window.ResizeObserver) new ResizeObserver(reportHeight).observe(doc.body);
    window.addEventListener("load", reportHeight);
  });
})();
