/**
 * The dashboard page (Dashboard.ts serves it at `/`): plain HTML, CSS and a script, with uPlot
 * from `/uplot.js`. Every second it reads `/api/overview`, redraws the tables, and turns the
 * nodes' cumulative counters into points: commands applied per second (all nodes), and the
 * mean and 99th-percentile proposal latency over the last second, for the last 5 minutes.
 * `window.flotillaDashboard` exposes the series and the last overview (the browser test reads it).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Flotilla</title>
<link rel="stylesheet" href="/uplot.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #1d232a; background: #f7f8fa; }
  h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
  #meta { color: #5b6570; }
  table { border-collapse: collapse; background: #fff; }
  th, td { padding: .25em .8em; border-bottom: 1px solid #e3e6ea; text-align: left; }
  th { background: #eef0f3; font-weight: 600; }
  .up { color: #137333; font-weight: 600; } .down { color: #c5221f; font-weight: 600; }
  .bad { color: #c5221f; } .ok { color: #137333; }
  .charts { display: flex; flex-wrap: wrap; gap: 1.5em; }
  .chart { background: #fff; padding: .5em; border: 1px solid #e3e6ea; }
  #error { color: #c5221f; }
</style>
</head>
<body>
<h1>Flotilla <span id="cluster"></span></h1>
<div id="meta">loading…</div><div id="error"></div>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>Node</th><th>Name</th><th>State</th><th>Up</th><th>Health</th><th>Ready</th>
<th>Replicas</th><th>Leaders</th><th>CPU</th><th>Memory</th></tr></thead><tbody></tbody></table>
<h2>Throughput and latency (last 5 minutes)</h2>
<div class="charts"><div class="chart" id="throughput"></div><div class="chart" id="latency"></div></div>
<h2>Placement operators in flight</h2>
<ul id="operators"></ul>
<h2>Shards</h2>
<table id="shards"><thead><tr><th>Keyspace</th><th>Group</th><th>Slots</th><th>Leader</th><th>Replicas</th>
<th>Lag</th></tr></thead><tbody></tbody></table>
<script src="/uplot.js"></script>
<script>
"use strict";
const WINDOW_S = 300;
const state = { time: [], throughput: [], mean: [], p99: [], previous: new Map(), last: undefined };
window.flotillaDashboard = state;
const esc = (v) => String(v ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const verdict = (v, okText) => v === undefined ? "-" : v.ok ? '<span class="ok">' + okText + "</span>"
  : '<span class="bad" title="' + esc(v.reasons.join("\\n")) + '">' + esc(v.reasons[0]) + "</span>";
const chart = (id, title, series) => new uPlot({
  title, width: 520, height: 240, scales: { x: { time: true } },
  series: [{}, ...series.map((s) => ({ label: s[0], stroke: s[1], width: 2, spanGaps: true }))],
  axes: [{}, { size: 60 }],
}, [[], ...series.map(() => [])], document.getElementById(id));
const throughputChart = chart("throughput", "commands applied / s", [["all nodes", "#1a73e8"]]);
const latencyChart = chart("latency", "proposal latency (ms)", [["mean", "#137333"], ["p99", "#e8710a"]]);

/** The p99 of the observations between two histogram readings (bucket upper bound). */
const p99 = (now, before) => {
  const counts = now.counts.map((c, i) => c - (before?.counts[i] ?? 0));
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= 0.99 * total) return (now.bounds[Math.min(i, now.bounds.length - 1)]) * 1000;
  }
  return null;
};

const addPoint = (o) => {
  const t = o.at / 1000;
  let applied = 0, count = 0, sum = 0, worst = null, cpu = new Map();
  for (const n of o.nodes) {
    if (!n.up || n.proposalSeconds === undefined) continue;
    const before = state.previous.get(n.id);
    if (before !== undefined && n.vitalsAt > before.vitalsAt) {
      const dt = (n.vitalsAt - before.vitalsAt) / 1000;
      applied += (n.proposalsAccepted - before.proposalsAccepted) / dt;
      count += n.proposalSeconds.count - before.proposalSeconds.count;
      sum += n.proposalSeconds.sum - before.proposalSeconds.sum;
      const p = p99(n.proposalSeconds, before.proposalSeconds);
      if (p !== null) worst = Math.max(worst ?? 0, p);
      cpu.set(n.id, (n.cpuSeconds - before.cpuSeconds) / dt);
    }
    state.previous.set(n.id, n);
  }
  state.cpu = cpu;
  state.time.push(t); state.throughput.push(applied);
  state.mean.push(count > 0 ? (sum / count) * 1000 : null); state.p99.push(worst);
  while (state.time.length > 0 && state.time[0] < t - WINDOW_S)
    for (const k of ["time", "throughput", "mean", "p99"]) state[k].shift();
  throughputChart.setData([state.time, state.throughput]);
  latencyChart.setData([state.time, state.mean, state.p99]);
};

const render = (o) => {
  document.getElementById("cluster").textContent = "· " + o.cluster;
  document.getElementById("meta").textContent = "shard map v" + o.mapVersion + " · " + o.nodes.length
    + " node(s) · " + o.shards.length + " group(s) · updated " + new Date(o.at).toLocaleTimeString();
  document.querySelector("#nodes tbody").innerHTML = o.nodes.map((n) => {
    const cpu = state.cpu?.get(n.id);
    return '<tr data-node="' + n.id + '" data-up="' + n.up + '"><td>n' + n.id + "</td><td>" + esc(n.name) + "</td><td>"
      + esc(n.state) + '</td><td class="' + (n.up ? "up" : "down") + '">' + (n.up ? "up" : "down") + "</td><td>"
      + verdict(n.health, "ok") + "</td><td>" + verdict(n.ready, "ready") + "</td><td>" + (n.groups ?? "-")
      + "</td><td>" + (n.leaders ?? "-") + "</td><td>" + (cpu === undefined ? "-" : (cpu * 100).toFixed(0) + " %")
      + "</td><td>" + (n.rssBytes === undefined ? "-" : (n.rssBytes / 1048576).toFixed(0) + " MiB") + "</td></tr>";
  }).join("");
  document.getElementById("operators").innerHTML = o.operators.length === 0 ? "<li>none</li>"
    : o.operators.map((op) => "<li>#" + op.id + " " + esc(op.what) + " (" + esc(op.step) + ")</li>").join("");
  document.querySelector("#shards tbody").innerHTML = o.shards.slice(0, 500).map((s) => "<tr><td>" + esc(s.keyspace)
    + "</td><td>" + s.group + "</td><td>" + (s.slots ?? "-") + "</td><td>" + (s.leader === null ? "-" : "n" + s.leader)
    + "</td><td>" + s.replicas.map((r) => "n" + r.node + (r.role === "voter" ? "" : "(" + r.role[0] + ")")).join(" ")
    + "</td><td>" + (s.lag ?? "-") + "</td></tr>").join("");
};

const poll = async () => {
  try {
    const r = await fetch("/api/overview", { cache: "no-store" });
    const o = await r.json();
    if (!r.ok) throw new Error(o.message ?? r.statusText);
    state.last = o;
    addPoint(o);
    render(o);
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "overview unavailable: " + e.message;
  }
  setTimeout(poll, 1000);
};
poll();
</script>
</body>
</html>
`
