
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
  var rowsSel = document.getElementById("rows"), colsSel = document.getElementById("cols");
  var shownLabel = document.getElementById("shown"), laidOut = null, sheetTable = null;
  var nameOf = {state: "state"};
  data.axes.forEach(function (a) { nameOf[a.key] = a.name; });

  function label(v) { return v === "" ? "(none)" : v; }
  function valueOf(card, key) { return key ? card.getAttribute(attrOf[key]) || "" : ""; }
  function axisValues(key) { return key ? valuesOf[key].concat([""]) : [""]; }

  // Cards are moved, never copied: one element per job, whatever the layout.
  function regroup(key) {
    main.textContent = "";
    var sections = [], byValue = {};
    axisValues(key).forEach(function (v) {
      var sec = document.createElement("section"), grid = document.createElement("div");
      sec.className = key ? "group row" : "group";
      grid.className = "grid";
      if (key) {
        var h = document.createElement("h2");
        h.textContent = nameOf[key] + ": " + label(v);
        h.appendChild(document.createElement("small"));
        sec.appendChild(h);
      }
      sec.appendChild(grid);
      sections.push(sec);
      byValue[v] = grid;
    });
    cards.forEach(function (c) {
      var v = valueOf(c, key);
      (byValue[v] || byValue[""]).appendChild(c);
    });
    sections.forEach(function (s) { main.appendChild(s); });
  }

  // The contact sheet: a row per value of one axis, a column per value of another, and in
  // each cell the clips of that pair side by side (takes, or several jobs).
  function sheet(rk, ck) {
    main.textContent = "";
    var table = document.createElement("table"), cells = {};
    table.id = "sheet";
    table.className = "sheet";
    var head = table.createTHead().insertRow(), corner = document.createElement("th");
    corner.className = "corner";
    corner.textContent = [rk ? nameOf[rk] + " \u2193" : "", ck ? nameOf[ck] + " \u2192" : ""]
      .filter(Boolean).join("  ");
    head.appendChild(corner);
    axisValues(ck).forEach(function (c) {
      var th = document.createElement("th");
      th.scope = "col";
      th.setAttribute("data-col", c);
      th.textContent = ck ? label(c) : "";
      head.appendChild(th);
    });
    var body = table.createTBody();
    axisValues(rk).forEach(function (r) {
      var tr = body.insertRow(), th = document.createElement("th");
      tr.setAttribute("data-row", r);
      th.scope = "row";
      th.textContent = rk ? label(r) : "";
      tr.appendChild(th);
      axisValues(ck).forEach(function (c) {
        var td = document.createElement("td"), cell = document.createElement("div");
        td.setAttribute("data-row", r);
        td.setAttribute("data-col", c);
        cell.className = "cell";
        td.appendChild(cell);
        tr.appendChild(td);
        cells[JSON.stringify([r, c])] = cell;
      });
    });
    cards.forEach(function (card) {
      var cell = cells[JSON.stringify([valueOf(card, rk), valueOf(card, ck)])];
      (cell || cells[JSON.stringify(["", ""])]).appendChild(card);
    });
    var wrap = document.createElement("div");
    wrap.className = "sheet-wrap";
    wrap.appendChild(table);
    main.appendChild(wrap);
    return table;
  }

  function layout() {
    var rk = rowsSel.value, ck = colsSel.value;
    var sig = rk || ck ? "sheet|" + rk + "|" + ck : "group|" + group.value;
    group.disabled = Boolean(rk || ck);
    if (sig === laidOut) return;
    laidOut = sig;
    sheetTable = rk || ck ? sheet(rk, ck) : null;
    if (!sheetTable) regroup(group.value);
    main.classList.toggle("as-sheet", Boolean(sheetTable));
  }

  // Rows and columns left without a visible clip (after filtering) are hidden.
  function fitSheet() {
    var rowsSeen = {}, colsSeen = {};
    var tds = Array.prototype.slice.call(sheetTable.querySelectorAll("td"));
    tds.forEach(function (td) {
      var n = td.querySelectorAll("article.card:not([hidden])").length;
      td.setAttribute("data-count", String(n));
      if (n) {
        rowsSeen[td.getAttribute("data-row")] = true;
        colsSeen[td.getAttribute("data-col")] = true;
      }
    });
    sheetTable.querySelectorAll("tbody tr").forEach(function (tr) {
      tr.hidden = !rowsSeen[tr.getAttribute("data-row")];
    });
    sheetTable.querySelectorAll("[data-col]").forEach(function (el) {
      el.hidden = !colsSeen[el.getAttribute("data-col")];
    });
  }

  function apply(writeHash) {
    var wanted = [], needle = q.value.trim().toLowerCase(), shown = 0;
    selects.forEach(function (s) {
      if (s.value) wanted.push([attrOf[s.getAttribute("data-filter")], s.value]);
    });
    layout();
    cards.forEach(function (c, i) {
      var ok = !needle || texts[i].indexOf(needle) >= 0;
      for (var k = 0; ok && k < wanted.length; k++) {
        ok = c.getAttribute(wanted[k][0]) === wanted[k][1];
      }
      c.hidden = !ok;
      if (ok) shown++;
    });
    if (sheetTable) {
      fitSheet();
    } else {
      Array.prototype.forEach.call(main.children, function (sec) {
        var n = sec.querySelectorAll("article.card:not([hidden])").length;
        var total = sec.querySelectorAll("article.card").length;
        sec.hidden = total === 0 || (n === 0 && group.value !== "");
        var small = sec.querySelector("h2 small");
        if (small) small.textContent = n + " of " + total;
      });
    }
    shownLabel.textContent = shown + " of " + cards.length + " shown";
    body.setAttribute("data-shown", String(shown));
    if (writeHash) {
      var p = new URLSearchParams();
      selects.forEach(function (s) {
        if (s.value) p.set(s.getAttribute("data-filter"), s.value);
      });
      if (needle) p.set("q", q.value.trim());
      if (group.value) p.set("group", group.value);
      if (rowsSel.value) p.set("rows", rowsSel.value);
      if (colsSel.value) p.set("cols", colsSel.value);
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
    setSelect(rowsSel, p.get("rows") || "");
    setSelect(colsSel, p.get("cols") || "");
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
  selects.concat([group, rowsSel, colsSel]).forEach(function (s) {
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
