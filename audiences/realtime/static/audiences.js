/*! audiences.js: show each visitor the content of their segments (docs/realtime.md).
 * <script src="https://api.example.com/audiences.js" data-key="pk_..."
 *   data-api="https://api.example.com" data-cookie="aud_anon_id" data-ttl="60"></script>
 * Sets data-audience-segments="key1 key2" on <html>; an element marked
 * data-audience-show="key" (several keys: any of them) is shown to members only and hidden
 * otherwise, also when the lookup fails (fail closed). Put `hidden` on such elements in the
 * markup so they never flash before the answer. */
(function () {
  "use strict";
  var script = document.currentScript || {};
  var data = script.dataset || {};
  var root = document.documentElement;
  var key = data.key || "";
  var api = (data.api || "").replace(/\/+$/, "");
  var cookieName = data.cookie || "aud_anon_id";
  var ttl = (parseFloat(data.ttl) >= 0 ? parseFloat(data.ttl) : 60) * 1000;

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].replace(/^\s+/, "");
      var eq = kv.indexOf("=");
      if (eq > 0 && kv.slice(0, eq) === name) {
        try { return decodeURIComponent(kv.slice(eq + 1)); } catch (e) { return kv.slice(eq + 1); }
      }
    }
    return "";
  }

  function store(method, name, value) {
    try { return window.localStorage[method](name, value); } catch (e) { return null; }
  }

  function apply(segments, state) {
    var member = {};
    for (var i = 0; i < segments.length; i++) member[segments[i]] = true;
    root.setAttribute("data-audience-segments", segments.join(" "));
    root.setAttribute("data-audience-state", state);
    var marked = document.querySelectorAll("[data-audience-show]");
    for (var j = 0; j < marked.length; j++) {
      var wanted = marked[j].getAttribute("data-audience-show").split(/\s+/);
      var show = false;
      for (var k = 0; k < wanted.length; k++) if (member[wanted[k]]) show = true;
      marked[j].hidden = !show;
    }
    window.audiences = { segments: segments.slice(), state: state };
    var event;
    try {
      event = new CustomEvent("audiences:ready", { detail: window.audiences });
    } catch (e) {
      return;
    }
    document.dispatchEvent(event);
  }

  function whenReady(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  function finish(segments, state) {
    whenReady(function () { apply(segments, state); });
  }

  var id = cookie(cookieName);
  if (!id || !key || !window.fetch) {
    finish([], id ? "error" : "anonymous");
    return;
  }
  var cacheKey = "aud:" + id;
  var cached = null;
  try { cached = JSON.parse(store("getItem", cacheKey) || "null"); } catch (e) { cached = null; }
  if (cached && cached.s && Date.now() - cached.t >= 0 && Date.now() - cached.t < ttl) {
    finish(cached.s, "cached");
    return;
  }
  fetch(api + "/v1/profiles/" + encodeURIComponent(id) + "/segments", {
    headers: { Authorization: "Bearer " + key },
    credentials: "omit",
    mode: "cors"
  }).then(function (response) {
    if (response.status === 404) return null; // unknown visitor: in no segment, yet
    if (!response.ok) throw new Error("audiences: lookup answered " + response.status);
    return response.json();
  }).then(function (body) {
    var segments = (body && body.segments) || [];
    if (body) store("setItem", cacheKey, JSON.stringify({ t: Date.now(), s: segments }));
    finish(segments, body ? "fresh" : "unknown");
  })["catch"](function () {
    finish([], "error");
  });
})();
