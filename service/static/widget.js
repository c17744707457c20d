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
  // The portal's signed identity of this reader (data-identity), sent by embed.js
  // by message, never in a URL. It goes with each post and own-comments lookup.
  var identity = "";

  function setIdentity(token) {
    identity = typeof token === "string" ? token : "";
    var field = $("cw-identity"), form = $("comment-form"), login = $("cw-login");
    if (field) field.value = identity;
    if (form && form.hasAttribute("data-requires-identity")) {
      form.hidden = !identity;
      if (login) login.hidden = !!identity;
      reportHeight();
    }
  }

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
      if (!data) return;
      if (data.type === "comments:identity" && portal) return setIdentity(data.identity);
      if (data.type !== "comments:stored") return;
      portal = origin;
      Object.keys(data.values || {}).forEach(function (k) {
        if (k.indexOf("cw:") === 0 && saved[k] === undefined) saved[k] = data.values[k];
      });
      setIdentity(data.identity);
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

  /* ---- proof of work (asked for only while the site is under a spam attack) ---- */
  var pow = null;  // the ALTCHA challenge that came with the current captcha, if any

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  // Find n with SHA-256(salt + n) == challenge, 500 digests at a time; resolves to the
  // base64 payload the service checks (ALTCHA v1), or null when there is none.
  function solvePow(c) {
    var encoder = new TextEncoder(), step = 500;
    function batch(start) {
      if (start > c.maxNumber) return Promise.resolve(null);
      var tries = [];
      for (var n = start; n < start + step && n <= c.maxNumber; n++) {
        tries.push(crypto.subtle.digest("SHA-256", encoder.encode(c.salt + n)));
      }
      return Promise.all(tries).then(function (hashes) {
        for (var i = 0; i < hashes.length; i++) {
          if (hex(hashes[i]) === c.challenge) {
            return btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge,
              number: start + i, salt: c.salt, signature: c.signature }));
          }
        }
        return batch(start + step);
      });
    }
    if (!window.crypto || !crypto.subtle || !window.TextEncoder) return Promise.resolve(null);
    return batch(0);
  }

  /* ---- captcha ---- */
  function loadCaptcha() {
    var refresh = $("cw-captcha-refresh");
    if (!refresh) return;
    fetch(refresh.getAttribute("data-captcha-url"), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (c) {
        $("cw-captcha-token").value = c.token;
        pow = c.proof_of_work || null;
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
      // A sound that cannot be fetched (the stricter audio rate limit, say) is said so.
      var sound = new Audio(this.href);
      sound.addEventListener("error", function () { say(text.captchaFailed, true); });
      var playing = sound.play();
      if (playing && playing.catch) playing.catch(function () {});  // "error" tells the reader
    });
    if (!$("cw-captcha-token").value) loadCaptcha();
  }

  /* ---- form ---- */
  // The messages of the checks made before sending, worded as the service words them
  // (service/text.py); script_text() does not carry them.
  var CHECKS = {
    zh: {
      required: "请填写评论内容。",
      bodyTooLong: "评论最多 {max} 字（当前 {length} 字）。",
      authorTooLong: "昵称最多 {max} 个字。"
    },
    en: {
      required: "Please write a comment.",
      bodyTooLong: "The comment can be at most {max} characters (now {length}).",
      authorTooLong: "The nickname can be at most {max} characters."
    }
  };
  // Characters that show nothing (service/text.py's _INVISIBLE, and zero-width joiners).
  var INVISIBLE = /[\u200b\u2060\ufeff\u00ad\u115f\u1160\u3164\uffa0\u200c\u200d]/g;

  function checkText(name, values) {
    var table = /^en\b/i.test(doc.documentElement.lang) ? CHECKS.en : CHECKS.zh;
    return table[name].replace(/\{(\w+)\}/g, function (all, key) { return values[key]; });
  }

  function normalised(value) {
    value = value.replace(/\r\n?/g, "\n");
    return (value.normalize ? value.normalize("NFC") : value).trim();
  }

  // Counted as the service counts: Unicode characters (code points), not UTF-16 units.
  function length(value) { return Array.from(value).length; }

  function setupCounter() {
    var body = $("cw-body"), counter = $("cw-counter");
    if (!body || !counter) return;
    var max = +body.getAttribute("data-max-length");
    function update() {
      var count = length(normalised(body.value));
      counter.textContent = count + " / " + max;
      counter.classList.toggle("cw-over", count > max);
    }
    body.addEventListener("input", update);
    update();
  }

  // What the service would refuse in the fields the reader typed, in the API's shape,
  // so that it is shown without spending (or refreshing) the captcha.
  function checkFields(form) {
    var fields = {};
    var author = form.elements.author, body = form.elements.body;
    var authorMax = author ? +author.getAttribute("data-max-length") : 0;
    if (authorMax > 0) {
      var name = author.value.replace(INVISIBLE, "").replace(/\s+/g, " ").trim();
      if (length(name) > authorMax) {
        fields.author = { code: "too_long", message: checkText("authorTooLong", { max: authorMax }) };
      }
    }
    if (body) {
      var text = normalised(body.value), bodyMax = +body.getAttribute("data-max-length");
      if (!text.replace(INVISIBLE, "").trim()) {
        fields.body = { code: "required", message: checkText("required") };
      } else if (bodyMax > 0 && length(text) > bodyMax) {
        fields.body = { code: "too_long",
                        message: checkText("bodyTooLong", { max: bodyMax, length: length(text) }) };
      }
    }
    return fields;
  }

  function clearErrors(form) {
    form.querySelectorAll(".cw-error[data-js]").forEach(function (el) { el.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      // Back to what the page gave it (the captcha's help), or nothing.
      var own = el.getAttribute("data-describedby");
      if (own) el.setAttribute("aria-describedby", own);
      else el.removeAttribute("aria-describedby");
    });
    form.querySelector(".cw-alert").textContent = "";
  }

  var FIELD_INPUT = { author: "cw-author", body: "cw-body", captcha_answer: "cw-captcha", reply_to: "cw-body" };

  // Each field's message next to its input; the first invalid input in the form, or null.
  function showFieldErrors(form, fields) {
    var first = null;
    Object.keys(fields).forEach(function (name) {
      var input = $(FIELD_INPUT[name] || "cw-body");
      var p = doc.createElement("p");
      p.className = "cw-error";
      p.id = "cw-" + name + "-js-error";
      p.setAttribute("data-js", "1");
      p.textContent = fields[name].message;
      var own = input.getAttribute("aria-describedby");
      if (own && !input.hasAttribute("aria-invalid")) input.setAttribute("data-describedby", own);
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
      input.closest(".cw-field").appendChild(p);
      if (!first || (first.compareDocumentPosition(input) & Node.DOCUMENT_POSITION_PRECEDING)) {
        first = input;
      }
    });
    reportHeight();
    return first;
  }

  function showErrors(form, error) {
    var first = showFieldErrors(form, error.fields || {});
    say(error.message, true);
    return first;
  }

  function setupForm() {
    var form = $("comment-form");
    if (!form || !window.fetch) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      // Checked here first: a refused request would cost the reader the captcha.
      var invalid = showFieldErrors(form, checkFields(form));
      if (invalid) { invalid.focus(); return; }
      var button = form.querySelector(".cw-submit");
      button.disabled = true;
      var data = {};
      ["author", "body", "reply_to", "captcha_token", "captcha_answer", "title", "url"].forEach(function (n) {
        var el = form.elements[n];
        if (el && el.value !== "") data[n] = el.value;
      });
      if (data.reply_to) data.reply_to = +data.reply_to;
      if (identity) data.identity = identity;
      var url = api + "/comments?lang=" + encodeURIComponent(doc.documentElement.lang);
      // Under attack the service asks the browser for a proof of work: solve it and send
      // the same comment again (the captcha was not spent); the reader does nothing.
      function send(challenge, retried) {
        var solved = challenge ? solvePow(challenge) : Promise.resolve(null);
        if (challenge) say(text.checking);
        return solved.then(function (proof) {
          if (proof) data.proof_of_work = proof;
          return request("POST", url, data);
        }).then(function (res) {
          var error = res.data && res.data.error;
          if (res.status === 422 && error && error.code === "proof_of_work_required" &&
              error.proof_of_work && !retried) return send(error.proof_of_work, true);
          return res;
        });
      }
      send(pow, false)
        .then(function (res) {
          button.disabled = false;
          pow = null;
          var error = res.ok ? null : (res.data && res.data.error) || { message: text.failed };
          if (keepsCaptcha(res, error)) {
            var first = showErrors(form, error);
            if (first) first.focus();
            return;
          }
          if (res.status === 401) return signInAgain(error);  // the captcha was not used
          loadCaptcha();  // a token is spent by every other attempt
          if (error) return showErrors(form, error);
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

  // The identity was refused (expired, invalid, or required): say so, offer the sign-in link.
  function signInAgain(error) {
    say(error.message, true);
    var login = $("cw-login");
    if (login) { login.hidden = false; reportHeight(); }
  }

  // A 422 naming only fields other than the captcha: the service checked them before
  // the captcha and did not spend it, so the answer the reader typed still holds.
  function keepsCaptcha(res, error) {
    var fields = error && error.fields;
    return res.status === 422 && !!fields && Object.keys(fields).length > 0 &&
      !Object.prototype.hasOwnProperty.call(fields, "captcha_answer");
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
      li.appendChild(head);
      li.appendChild(body);
      if (entry.key) {  // sent from this browser: it holds the key to withdraw it
        var remove = doc.createElement("button");
        remove.type = "button";
        remove.className = "cw-link";
        remove.textContent = text.remove;
        remove.addEventListener("click", function () { withdraw(entry); });
        li.appendChild(remove);
      }
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

  // With the portal's identity, the comments this user sent from other devices that
  // still await review come back too (with their text): shown, not stored here.
  function refreshOwn(withIdentity) {
    var own = store(ownKey()) || [];
    if (withIdentity === undefined) withIdentity = !!identity;
    if (!own.length && !withIdentity) return;
    renderOwn(own);
    var body = { comments: own.map(function (e) { return { id: e.id, key: e.key }; }) };
    if (withIdentity) body.identity = identity;
    request("POST", api + "/comments/own", body).then(function (res) {
      if (res.status === 401 && withIdentity) return refreshOwn(false);  // expired: keys only
      if (!res.ok) return;
      var pending = {}, others = [];
      res.data.comments.forEach(function (c) {
        if (c.status !== "pending") return;
        pending[c.id] = 1;
        if (c.body !== undefined) others.push({ id: c.id, author: c.author, body: c.body });
      });
      own = own.filter(function (e) { return pending[e.id]; });
      store(ownKey(), own.length ? own : null);
      renderOwn(own.concat(others));
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
        // As JSON: the service takes a like in no other form (another site's page
        // cannot send JSON without the browser asking the service first).
        request("POST", api + "/comments/" + id + "/like", {}).then(function (res) {
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
