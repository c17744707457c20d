/* Keyboard-first moderation: j/k move, a/r/s/d/u act, x select, ? help. Plain forms work without it. */
(function () {
  "use strict";
  var doc = document;
  var csrf = (doc.querySelector('meta[name="csrf-token"]') || {}).content;
  var current = null;
  var KEYS = { a: "approve", r: "reject", s: "spam", d: "delete", u: "restore" };

  function items() { return Array.prototype.slice.call(doc.querySelectorAll("#items > .item")); }

  function focusItem(el) {
    if (current) current.classList.remove("current");
    current = el;
    if (!el) return;
    el.classList.add("current");
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = items();
    if (!all.length) return;
    var i = all.indexOf(current);
    focusItem(all[i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + step))]);
  }

  function toast(text) {
    var box = doc.getElementById("toast");
    if (!box) {
      box = doc.createElement("div");
      box.id = "toast";
      box.setAttribute("role", "status");
      doc.body.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, 2500);
  }

  function updateCounts(counts) {
    Object.keys(counts || {}).forEach(function (name) {
      var el = doc.querySelector('[data-count="' + name + '"]');
      if (el) el.textContent = counts[name];
    });
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    });
  }

  function removeItem(el) {
    var all = items();
    var i = all.indexOf(el);
    var next = all[i + 1] || all[i - 1] || null;
    el.parentNode.removeChild(el);
    if (current === el) { current = null; focusItem(next); }
    if (!items().length) {
      var cleared = doc.getElementById("cleared");
      if (cleared) cleared.hidden = false;
    }
  }

  function failed(res) {
    toast(res.body && res.body.error ? res.body.error.message : "Error");
  }

  function actOn(el, action) {
    var button = el.querySelector('form.act [data-action="' + action + '"]');
    if (!button || el.classList.contains("busy")) return;
    el.classList.add("busy");
    post(button.form.action, new FormData(button.form)).then(function (res) {
      el.classList.remove("busy");
      if (!res.ok) return failed(res);
      updateCounts(res.body.counts);
      removeItem(el);
      toast(res.body.message);
    }, function () { el.classList.remove("busy"); toast("Network error"); });
  }

  function selected() {
    return items().filter(function (el) { return el.querySelector(".select").checked; });
  }

  function actOnSelected(els, action) {
    var form = doc.getElementById("bulk");
    var data = new FormData();
    data.append("csrf_token", csrf);
    data.append("action", action);
    data.append("reason", form.querySelector('[name="reason"]').value);
    els.forEach(function (el) { data.append("ids", el.getAttribute("data-id")); el.classList.add("busy"); });
    post(form.getAttribute("action"), data).then(function (res) {
      if (!res.ok) { els.forEach(function (el) { el.classList.remove("busy"); }); return failed(res); }
      updateCounts(res.body.counts);
      var done = (res.body.ids || []).map(String);
      els.forEach(function (el) {
        el.classList.remove("busy");
        if (done.indexOf(el.getAttribute("data-id")) >= 0) removeItem(el);
      });
      toast(res.body.message);
    });
  }

  function toggleHelp(show) {
    var help = doc.getElementById("help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) doc.getElementById("help-close").focus();
    else if (current) current.focus();
  }

  doc.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (tag === "input" || tag === "textarea" || tag === "select") return;
    var key = event.key;
    if (key === "?") { toggleHelp(); event.preventDefault(); return; }
    if (key === "Escape") { toggleHelp(false); return; }
    if (!doc.getElementById("items")) return;
    if (key === "j") { move(1); event.preventDefault(); }
    else if (key === "k") { move(-1); event.preventDefault(); }
    else if (key === "x" && current) {
      var box = current.querySelector(".select");
      box.checked = !box.checked;
      event.preventDefault();
    } else if (KEYS[key]) {
      var chosen = selected();
      if (chosen.length) actOnSelected(chosen, KEYS[key]);
      else if (current) actOn(current, KEYS[key]);
      event.preventDefault();
    }
  });

  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("act")) return;
    var el = form.closest(".item");
    var button = event.submitter || form.querySelector("button");
    if (!el || !button || !button.getAttribute("data-action")) return;
    event.preventDefault();
    focusItem(el);
    actOn(el, button.getAttribute("data-action"));
  });

  doc.addEventListener("DOMContentLoaded", function () {
    var all = doc.getElementById("select-all");
    if (all) all.addEventListener("change", function () {
      items().forEach(function (el) { el.querySelector(".select").checked = all.checked; });
    });
    var close = doc.getElementById("help-close");
    if (close) close.addEventListener("click", function () { toggleHelp(false); });
    doc.addEventListener("click", function (event) {
      var el = event.target.closest && event.target.closest(".item");
      if (el && el !== current) focusItem(el);
    });
    move(0);
  });
})();
