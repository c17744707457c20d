/* Comment widget embed: <div data-comments data-article="KEY"></div> + this script. */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script ? script.src : "/", location.href).origin;
  var frames = [];

  function canonicalUrl() {
    var link = document.querySelector('link[rel="canonical"]');
    return (link && link.href) || location.href.split("#")[0];
  }

  function mount(el) {
    if (el.getAttribute("data-comments-mounted")) return;
    el.setAttribute("data-comments-mounted", "1");
    var key = el.getAttribute("data-article");
    if (!key) return;
    var lang = el.getAttribute("data-lang") || "zh-CN";
    var params = new URLSearchParams();
    params.set("lang", lang);
    params.set("title", el.getAttribute("data-title") || document.title);
    params.set("url", el.getAttribute("data-url") || canonicalUrl());
    if (el.getAttribute("data-theme")) params.set("theme", el.getAttribute("data-theme"));
    if (el.getAttribute("data-accent")) params.set("accent", el.getAttribute("data-accent"));
    var frame = document.createElement("iframe");
    frame.src = base + "/embed/" + encodeURIComponent(key) + "?" + params.toString();
    frame.title = lang.indexOf("en") === 0 ? "Comments" : "评论";
    frame.loading = "lazy";
    frame.style.cssText = "display:block;width:100%;border:0;overflow:hidden;height:420px";
    frame.setAttribute("scrolling", "no");
    el.appendChild(frame);
    frames.push(frame);
    // data-identity (the portal's signed token for a signed-in reader) reaches the frame
    // by message only, never in its URL (logs, Referer); a renewed token follows.
    if (window.MutationObserver) {
      new MutationObserver(function () {
        if (frame.contentWindow) {
          frame.contentWindow.postMessage(
            { type: "comments:identity", identity: el.getAttribute("data-identity") || "" }, base);
        }
      }).observe(el, { attributes: true, attributeFilter: ["data-identity"] });
    }
  }

  // The widget frame may not keep storage of its own (third-party storage blocked):
  // it keeps its readers' own-comment keys and likes here, under "cw:" keys.
  function stored() {
    var values = {};
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k.indexOf("cw:") === 0) values[k] = JSON.parse(localStorage.getItem(k));
      }
    } catch (e) { /* no storage here either */ }
    return values;
  }

  window.addEventListener("message", function (event) {
    var data = event.data, frame = null;
    if (event.origin !== base || !data) return;
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) frame = frames[i];
    }
    if (!frame) return;
    if (data.type === "comments:height") {
      frame.style.height = Math.max(80, Math.ceil(+data.height || 0)) + "px";
    } else if (data.type === "comments:load") {
      var identity = frame.parentNode ? frame.parentNode.getAttribute("data-identity") : "";
      event.source.postMessage(
        { type: "comments:stored", values: stored(), identity: identity || "" }, base);
    } else if (data.type === "comments:save" && String(data.key).indexOf("cw:") === 0) {
      try {
        if (data.value === null) localStorage.removeItem(data.key);
        else localStorage.setItem(data.key, JSON.stringify(data.value));
      } catch (e) { /* nothing to do */ }
    }
  });

  function mountAll() {
    var nodes = document.querySelectorAll("[data-comments]");
    for (var i = 0; i < nodes.length; i++) mount(nodes[i]);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
