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

  function toast(text, seconds, undoUrl) {
    var box = doc.getElementById("toast");
    if (!box) {
      box = doc.createElement("div");
      box.id = "toast";
      box.setAttribute("role", "status");
      doc.body.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    // A step that can be undone (a wave confirmed or released) offers it here.
    if (undoUrl) {
      var undo = doc.createElement("button");
      undo.type = "button";
      undo.textContent = (doc.getElementById("items") || doc.body).getAttribute("data-undo-label") || "Undo";
      undo.addEventListener("click", function () {
        var data = new FormData();
        data.append("csrf_token", csrf);
        post(undoUrl, data).then(function (res) {
          if (!res.ok) return failed(res);
          window.location.reload();
        });
      });
      box.appendChild(undo);
    }
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.hidden = true; }, (seconds || 2.5) * 1000);
  }

  function queueName() {
    var list = doc.getElementById("items");
    return list ? list.getAttribute("data-queue") : null;
  }

  // The heading shows the queue's total: the server's count for it, unless filters are on
  // (then it is a filtered total the counts do not know, so it only goes down).
  function updateTotal(counts, removed) {
    var total = doc.getElementById("queue-total");
    if (!total) return;
    var queue = queueName();
    if (total.getAttribute("data-filtered") !== "true" && counts && counts[queue] !== undefined) {
      total.textContent = counts[queue];
    } else if (removed) {
      total.textContent = Math.max(0, (parseInt(total.textContent, 10) || 0) - removed);
    }
  }

  function updateCounts(counts, removed) {
    Object.keys(counts || {}).forEach(function (name) {
      var el = doc.querySelector('[data-count="' + name + '"]');
      if (el) el.textContent = counts[name];
    });
    updateTotal(counts, removed);
  }

  function shiftCount(name, step) {
    var el = doc.querySelector('[data-count="' + name + '"]');
    if (el) el.textContent = Math.max(0, (parseInt(el.textContent, 10) || 0) + step);
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
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

  function statusLabels() {
    try { return JSON.parse(doc.getElementById("items").getAttribute("data-status-labels")) || {}; }
    catch (e) { return {}; }
  }

  // Which statuses a queue shows. The reported queue only holds comments with open reports,
  // and any decision resolves them, so a comment another moderator decided leaves it.
  function belongs(queue, status) {
    return queue !== "reported" && queue === status;
  }

  // Another moderator decided this comment after the page was loaded: say so, show its
  // status now, and take it out of the queue if it no longer belongs there. Nothing was done.
  function movedOn(el, error) {
    var status = error.current_status;
    var field = el.querySelector('[name="expected_status"]');
    var before = field ? field.value : null;
    toast(error.message, 6);
    el.classList.add("moved");
    var badge = el.querySelector(".badge");
    if (badge && status) {
      badge.className = "badge badge-" + status;
      badge.textContent = statusLabels()[status] || status;
    }
    // What the moderator now sees is what a further action expects.
    if (status) Array.prototype.forEach.call(el.querySelectorAll('[name="expected_status"]'), function (input) {
      input.value = status;
    });
    var leaves = !belongs(queueName(), status);
    if (error.counts) updateCounts(error.counts, leaves ? 1 : 0);
    else {
      if (before && status && before !== status) { shiftCount(before, -1); shiftCount(status, 1); }
      if (leaves) updateTotal(null, 1);
    }
    if (leaves) removeItem(el);
  }

  function actOn(el, action) {
    var button = el.querySelector('form.act [data-action="' + action + '"]');
    if (!button || el.classList.contains("busy")) return;
    el.classList.add("busy");
    post(button.form.action, new FormData(button.form)).then(function (res) {
      el.classList.remove("busy");
      var error = res.body && res.body.error;
      if (res.status === 409 && error && error.code === "status_changed") return movedOn(el, error);
      if (!res.ok) return failed(res);
      updateCounts(res.body.counts, 1);
      removeItem(el);
      toast(res.body.message, res.body.undo ? 10 : 2.5, res.body.undo);
    }, function () { el.classList.remove("busy"); toast("Network error"); });
  }

  function selected() {
    return items().filter(function (el) {
      var box = el.querySelector(".select");
      return box && box.checked;
    });
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
      var done = (res.body.ids || []).map(String);
      updateCounts(res.body.counts, els.filter(function (el) {
        return done.indexOf(el.getAttribute("data-id")) >= 0;
      }).length);
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
      if (box) box.checked = !box.checked;
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
      items().forEach(function (el) {
        var box = el.querySelector(".select");
        if (box) box.checked = all.checked;
      });
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
