/* cisaudit dashboard: plain DOM, no framework, no network; data comes from data/*.js. */
"use strict";
(function () {
  const runs = {};
  let index = null;
  window.cisauditIndex = function (data) { index = data; };
  window.cisauditRun = function (data) { runs[data.id] = data; };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  function fmt(v) { return v === null || v === undefined ? "—" : v.toFixed(1); }
  function short(id) { return id.slice(0, 8); }
  function when(run) { return run.started_at.slice(0, 16).replace("T", " "); }

  function loadRun(id) {
    return new Promise(function (resolve, reject) {
      if (runs[id]) { resolve(runs[id]); return; }
      const s = document.createElement("script");
      s.src = "data/run-" + id + ".js";
      s.onload = function () { resolve(runs[id]); };
      s.onerror = function () { reject(new Error("cannot load run " + id)); };
      document.body.append(s);
    });
  }

  function line(values, width, height, cls, color, dashed) {
    const pad = 28, n = values.length, pts = [];
    values.forEach(function (v, i) {
      if (v === null || v === undefined) return;
      const x = pad + (width - 2 * pad) * (n > 1 ? i / (n - 1) : 0.5);
      const y = 8 + (height - 24) * (1 - v / 100);
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
    });
    const attrs = { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2, class: cls };
    if (dashed) attrs["stroke-dasharray"] = "4,3";
    return svg("polyline", attrs);
  }

  function fleetChart() {
    const width = 720, height = 200, box = document.getElementById("fleet-chart");
    const chart = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, id: "fleet-svg" });
    [0, 50, 100].forEach(function (v) {
      const y = 8 + (height - 24) * (1 - v / 100);
      chart.append(svg("line", { x1: 28, x2: width - 8, y1: y, y2: y, stroke: "#ddd" }));
      const t = svg("text", { x: 2, y: y + 4, "font-size": 10, fill: "#555" }); t.textContent = v + "%"; chart.append(t);
    });
    chart.append(line(index.runs.map(function (r) { return r.score_without_waivers; }), width, height, "unwaived", "#0a6ebd", true));
    chart.append(line(index.runs.map(function (r) { return r.score; }), width, height, "score", "#1f3a5f", false));
    box.append(chart);
  }

  function color(score) {
    if (score === null) return "#f6f8fa";
    return "hsl(" + Math.round(score * 1.2) + ", 65%, 72%)";  /* red 0 % ... green 100 % */
  }

  function heatmap(run) {
    const box = document.getElementById("heatmap");
    box.replaceChildren();
    document.getElementById("drill").hidden = true;
    const sections = Object.keys(run.sections).sort();
    const groups = Array.from(new Set(run.targets.flatMap(function (t) { return t.groups; }))).sort();
    const table = el("table", { id: "heat-table" });
    const head = el("tr", {}, el("th", { text: "group" }));
    const packs = new Set(sections.map(function (s) { return s.split(" ")[0]; }));
    sections.forEach(function (s) {
      const number = s.split(" ")[1], label = number + " " + run.sections[s];
      head.append(el("th", { title: s, text: packs.size > 1 ? s.replace(/^cis-/, "") + " " + run.sections[s] : label }));
    });
    table.append(el("thead", {}, head));
    const body = el("tbody");
    groups.forEach(function (g) {
      const tr = el("tr", {}, el("th", { text: g }));
      sections.forEach(function (s) {
        let pass = 0, fail = 0;
        run.targets.forEach(function (t) {
          if (!t.groups.includes(g)) return;
          t.results.forEach(function (r) {
            const c = run.controls[r[0]];
            if (!c || c.section !== s) return;
            if (r[1] === "PASS") pass++; else if (r[1] === "FAIL") fail++;
          });
        });
        const score = pass + fail ? 100 * pass / (pass + fail) : null;
        const td = el("td", { class: score === null ? "cell empty" : "cell", "data-group": g, "data-section": s, text: score === null ? "" : score.toFixed(0) });
        td.style.background = color(score);
        if (score !== null) td.addEventListener("click", function () { drill(run, g, s); });
        tr.append(td);
      });
      body.append(tr);
    });
    table.append(body);
    box.append(table);
  }

  function drill(run, group, section) {
    const box = document.getElementById("drill");
    box.hidden = false;
    document.getElementById("evidence").hidden = true;
    document.getElementById("drill-title").textContent = group + " · " + section + " (" + run.sections[section] + ")";
    const body = document.querySelector("#drill-table tbody");
    body.replaceChildren();
    run.targets.forEach(function (t) {
      if (!t.groups.includes(group)) return;
      t.results.forEach(function (r) {
        const c = run.controls[r[0]];
        if (!c || c.section !== section) return;
        const tr = el("tr", { class: "pick" },
          el("td", { text: t.name }),
          el("td", {}, el("span", { class: "mono", text: c.id + " " }), c.title.en),
          el("td", { class: "s-" + r[1], text: r[1] }),
          el("td", { text: r[2] }),
          el("td", { class: "mono", text: r[4].join(", ") }));
        tr.addEventListener("click", function () { showEvidence(t, r, c); });
        body.append(tr);
      });
    });
  }

  function showEvidence(target, result, control) {
    const box = document.getElementById("evidence");
    box.hidden = false;
    document.getElementById("evidence-title").textContent = "Evidence: " + target.name + " · " + control.id;
    const body = document.getElementById("evidence-body");
    body.replaceChildren();
    if (!result[3].length) body.append(el("p", { text: "No raw evidence behind this result." }));
    result[3].forEach(function (key) {
      const sec = target.evidence[key];
      if (!sec) { body.append(el("p", { text: key + ": not recorded" })); return; }
      body.append(el("p", {}, el("b", { text: key }), " ", el("span", { class: "mono sha", text: "SHA-256 " + sec.sha256 })));
      body.append(el("p", { class: "mono", text: "$ " + sec.command + "  (exit " + sec.rc + ", " + sec.size + " chars)" }));
      if (sec.excerpt) body.append(el("pre", { text: sec.excerpt }));
    });
  }

  function compareRuns(a, b) {
    const rows = [], counts = { new: 0, fixed: 0, changed: 0, still: 0 };
    const before = {};
    a.targets.forEach(function (t) { before[t.name] = t.digest; });
    b.targets.forEach(function (t) {
      const old = before[t.name];
      if (!old) { rows.push(["target added", t.name, "", "", ""]); return; }
      Object.keys(t.digest).sort().forEach(function (key) {
        const x = old[key], y = t.digest[key];
        if (!x) return;
        const failedA = x[0] === "FAIL" ? new Set(x[2].length ? x[2] : [""]) : new Set();
        const failedB = y[0] === "FAIL" ? new Set(y[2].length ? y[2] : [""]) : new Set();
        if (y[0] === "FAIL") {
          failedB.forEach(function (o) { if (failedA.has(o)) counts.still++; else { counts.new++; rows.push(["new failure", t.name, key, o, x[0] + " → FAIL"]); } });
          if (x[0] === "FAIL") failedA.forEach(function (o) { if (!failedB.has(o) && o !== "" && !failedB.has("")) { counts.fixed++; rows.push(["fixed", t.name, key, o, "FAIL → PASS"]); } });
        } else if (x[0] === "FAIL" && (y[0] === "PASS" || y[0] === "NOT_APPLICABLE")) {
          failedA.forEach(function (o) { counts.fixed++; rows.push(["fixed", t.name, key, o, "FAIL → " + y[0]]); });
        } else if (x[0] !== y[0]) { counts.changed++; rows.push(["changed", t.name, key, "", x[0] + " → " + y[0]]); }
      });
    });
    a.targets.forEach(function (t) { if (!b.targets.some(function (u) { return u.name === t.name; })) rows.push(["target removed", t.name, "", "", ""]); });
    return { rows: rows, counts: counts };
  }

  function showDiff() {
    const ia = document.getElementById("diff-a").value, ib = document.getElementById("diff-b").value;
    Promise.all([loadRun(ia), loadRun(ib)]).then(function (pair) {
      const found = compareRuns(pair[0], pair[1]);
      document.getElementById("diff-counts").textContent =
        found.counts.new + " new failure(s), " + found.counts.fixed + " fixed, " + found.counts.still + " still failing, " + found.counts.changed + " other change(s)";
      const body = document.querySelector("#diff-table tbody");
      body.replaceChildren();
      found.rows.slice(0, 500).forEach(function (r) {
        const cls = r[0] === "new failure" ? "new" : r[0] === "fixed" ? "fixed" : "changed";
        body.append(el("tr", { class: cls }, ...r.map(function (v, i) { return el("td", { class: i === 3 ? "mono" : "", text: v }); })));
      });
    });
  }

  function targetsTable() {
    const body = document.querySelector("#target-table tbody");
    Object.keys(index.targets).sort().forEach(function (name) {
      const values = index.runs.map(function (r) { return index.targets[name][r.id]; });
      const spark = svg("svg", { width: 160, height: 30, viewBox: "0 0 160 30", class: "spark" });
      const pts = [];
      values.forEach(function (v, i) {
        if (v === null || v === undefined) return;
        pts.push((4 + 152 * (values.length > 1 ? i / (values.length - 1) : 0.5)).toFixed(1) + "," + (2 + 26 * (1 - v / 100)).toFixed(1));
      });
      spark.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: "#1f3a5f", "stroke-width": 1.5 }));
      const latest = values.filter(function (v) { return v !== null && v !== undefined; }).pop();
      body.append(el("tr", {}, el("td", { text: name }), el("td", {}, spark), el("td", { text: fmt(latest === undefined ? null : latest) })));
    });
  }

  function selects() {
    const ids = ["heat-run", "diff-a", "diff-b"];
    ids.forEach(function (id) {
      const sel = document.getElementById(id);
      index.runs.slice().reverse().forEach(function (r) {
        sel.append(el("option", { value: r.id, text: when(r) + " · " + short(r.id) + " · " + fmt(r.score) }));
      });
    });
    if (index.runs.length > 1) document.getElementById("diff-a").selectedIndex = 1;
    document.getElementById("heat-run").addEventListener("change", function (e) { loadRun(e.target.value).then(heatmap); });
    document.getElementById("diff-go").addEventListener("click", showDiff);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!index || !index.runs.length) { document.getElementById("subtitle").textContent = "no stored run"; return; }
    document.getElementById("subtitle").textContent = index.runs.length + " run(s), " + when(index.runs[0]) + " — " + when(index.runs[index.runs.length - 1]);
    fleetChart();
    selects();
    targetsTable();
    loadRun(index.runs[index.runs.length - 1].id).then(heatmap);
    document.body.setAttribute("data-ready", "1");
  });
})();
