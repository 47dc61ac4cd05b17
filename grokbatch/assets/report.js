
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("gb-data").textContent);
  var body = document.body, main = document.getElementById("groups");
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card"));
  var texts = cards.map(function (c) { return c.textContent.toLowerCase(); });
  var attrOf = {state: "data-state"}, valuesOf = {state: data.states};
  data.axes.forEach(function (a) { attrOf[a.key] = a.attr; valuesOf[a.key] = a.values; });
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var group = document.getElementById("group"), q = document.getElementById("q");
  var shownLabel = document.getElementById("shown"), grouped = null;

  function regroup(key) {
    if (key === grouped) return;
    grouped = key;
    main.textContent = "";
    var sections = [], byValue = {};
    var values = key ? valuesOf[key].concat([""]) : [""];
    values.forEach(function (v) {
      var sec = document.createElement("section"), grid = document.createElement("div");
      sec.className = key ? "group row" : "group";
      grid.className = "grid";
      if (key) {
        var h = document.createElement("h2"), label = v === "" ? "(none)" : v;
        h.textContent = key + ": " + label;
        h.appendChild(document.createElement("small"));
        sec.appendChild(h);
      }
      sec.appendChild(grid);
      sections.push(sec);
      byValue[v] = grid;
    });
    cards.forEach(function (c) {
      var v = key ? c.getAttribute(attrOf[key]) || "" : "";
      (byValue[v] || byValue[""]).appendChild(c);
    });
    sections.forEach(function (s) { main.appendChild(s); });
  }

  function apply(writeHash) {
    var wanted = [], needle = q.value.trim().toLowerCase(), shown = 0;
    selects.forEach(function (s) {
      if (s.value) wanted.push([attrOf[s.getAttribute("data-filter")], s.value]);
    });
    regroup(group.value);
    cards.forEach(function (c, i) {
      var ok = !needle || texts[i].indexOf(needle) >= 0;
      for (var k = 0; ok && k < wanted.length; k++) {
        ok = c.getAttribute(wanted[k][0]) === wanted[k][1];
      }
      c.hidden = !ok;
      if (ok) shown++;
    });
    Array.prototype.forEach.call(main.children, function (sec) {
      var n = sec.querySelectorAll("article.card:not([hidden])").length;
      var total = sec.querySelectorAll("article.card").length;
      sec.hidden = total === 0 || (n === 0 && grouped !== "");
      var small = sec.querySelector("h2 small");
      if (small) small.textContent = n + " of " + total;
    });
    shownLabel.textContent = shown + " of " + cards.length + " shown";
    body.setAttribute("data-shown", String(shown));
    if (writeHash) {
      var p = new URLSearchParams();
      selects.forEach(function (s) {
        if (s.value) p.set(s.getAttribute("data-filter"), s.value);
      });
      if (needle) p.set("q", q.value.trim());
      if (group.value) p.set("group", group.value);
      try { history.replaceState(null, "", "#" + p.toString()); } catch (e) { /* file:// */ }
    }
  }

  function setSelect(s, v) {
    for (var i = 0; i < s.options.length; i++) {
      if (s.options[i].value === v) { s.value = v; return; }
    }
  }

  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    selects.forEach(function (s) { setSelect(s, p.get(s.getAttribute("data-filter")) || ""); });
    setSelect(group, p.get("group") || "");
    q.value = p.get("q") || "";
  }

  function media() {
    var ok = 0, bad = 0;
    document.querySelectorAll(".media img, .media video").forEach(function (m) {
      // Not networkState: it passes through NO_SOURCE while every video picks its source.
      var broken = m.tagName === "IMG" ? m.complete && m.naturalWidth === 0 : m.error !== null;
      var loaded = m.tagName === "IMG" ? m.complete && m.naturalWidth > 0 : m.readyState > 0;
      m.parentNode.classList.toggle("broken", broken);
      if (broken) bad++;
      if (loaded) ok++;
    });
    body.setAttribute("data-media-loaded", String(ok));
    body.setAttribute("data-media-broken", String(bad));
  }

  document.getElementById("controls").hidden = false;
  selects.concat([group]).forEach(function (s) {
    s.addEventListener("change", function () { apply(true); });
  });
  q.addEventListener("input", function () { apply(true); });
  window.addEventListener("hashchange", function () { readHash(); apply(false); });
  // Media events do not bubble, so listen in the capture phase; batch them so thousands of
  // lazy images loading do not rescan the page once each.
  var pending = 0;
  ["load", "loadedmetadata", "error"].forEach(function (type) {
    document.addEventListener(type, function () {
      if (!pending) pending = setTimeout(function () { pending = 0; media(); }, 50);
    }, true);
  });
  readHash();
  apply(false);
  media();
  body.setAttribute("data-ready", "1");
})();
