"""The HTML page of a detection report: its markup, style and script, filled with the report's data.

:func:`render_page` puts a title and the JSON of :func:`turnpoint.changes.report.report_data`
(with its envelope and audio) into :data:`PAGE`, one self-contained document: the script draws the
timeline on canvases, plays the audio and exposes ``window.turnpointReport`` for browser tests.
"""

from __future__ import annotations

import html
import json

__all__ = ["PAGE", "render_page"]


def render_page(title: str, data: dict) -> str:
    r"""The page showing ``data`` under ``title``.

    Examples
    --------
    >>> page = render_page("a · turnpoint report", {"uri": "</script>"})
    >>> "<\\/script>" in page, "<title>a · turnpoint report</title>" in page
    (True, True)
    """
    # "</" inside a <script> would end it: JSON allows the escaped form
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)


#: The page, with ``__TITLE__`` and ``__DATA__`` (the report's JSON) to fill in.
PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px 20px; color: #222; background: #fff; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #summary { margin: 0 0 10px; color: #444; }
  #toolbar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 6px; }
  #toolbar button { font: inherit; padding: 2px 10px; border: 1px solid #bbb; border-radius: 4px; background: #f6f6f6; cursor: pointer; }
  #toolbar button:hover { background: #e8e8e8; }
  #position { margin-left: 8px; font-variant-numeric: tabular-nums; color: #333; }
  #timeline, #overview { display: block; width: 100%; user-select: none; }
  #timeline { cursor: crosshair; border: 1px solid #ddd; }
  #overview { cursor: pointer; margin-top: 4px; border: 1px solid #ddd; }
  #hover { position: fixed; pointer-events: none; background: rgba(30,30,30,.85); color: #fff; padding: 2px 6px;
           border-radius: 3px; font-size: 12px; display: none; white-space: nowrap; }
  #legend { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; padding: 0; margin: 10px 0; }
  #legend li { display: flex; align-items: center; gap: 6px; }
  .swatch { display: inline-block; width: 14px; height: 14px; border-radius: 2px; }
  .line { display: inline-block; width: 18px; height: 0; border-top: 2px solid; }
  audio { width: 100%; margin: 6px 0; }
  details { margin-top: 10px; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  td, th { padding: 1px 10px; text-align: right; border-bottom: 1px solid #eee; }
  td.label, th.label { text-align: left; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #f0f4ff; }
  #changes button { font: inherit; font-variant-numeric: tabular-nums; margin: 2px; padding: 0 6px; border: 1px solid #ddd;
                    background: #fff; border-radius: 3px; cursor: pointer; }
  .help { color: #666; font-size: 12px; }
</style>
</head>
<body>
<h1 id="title"></h1>
<p id="summary"></p>
<div id="player"></div>
<div id="toolbar">
  <button id="play" title="play / pause (space)">&#9654; play</button>
  <button id="zoom-in" title="zoom in (+ or wheel)">+</button>
  <button id="zoom-out" title="zoom out (- or wheel)">&minus;</button>
  <button id="pan-left" title="pan left (&larr;)">&larr;</button>
  <button id="pan-right" title="pan right (&rarr;)">&rarr;</button>
  <button id="fit" title="whole file (0)">whole file</button>
  <span id="position"></span>
</div>
<canvas id="timeline"></canvas>
<canvas id="overview" height="44"></canvas>
<div id="hover"></div>
<p class="help">Click the timeline to play from there. Wheel or +/&minus; zooms, drag or shift-wheel pans, 0 shows the whole file.</p>
<ul id="legend"></ul>
<details id="turn-list"><summary id="turn-count"></summary>
<table id="turns"><thead><tr><th>#</th><th>start</th><th>end</th><th>duration</th><th class="label">speaker</th></tr></thead><tbody></tbody></table>
</details>
<details id="change-list"><summary id="change-count"></summary><div id="changes"></div></details>
<script type="application/json" id="turnpoint-data">__DATA__</script>
<script>
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("turnpoint-data").textContent);
  const duration = Math.max(data.duration, 1e-3);
  const decode = (b64) => { const s = atob(b64), out = new Float32Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) / 255; return out; };
  const scores = decode(data.scores);
  const envelope = data.envelope ? decode(data.envelope.values) : null;
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => { const e = document.createElement(tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; };
  const pad = (n, w) => String(n).padStart(w, "0");
  function clock(t, decimals) {
    const d = decimals === undefined ? 1 : decimals, sign = t < 0 ? "-" : "";
    t = Math.abs(t);
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    const sec = d > 0 ? s.toFixed(d).padStart(3 + d, "0") : pad(Math.floor(s), 2);
    return sign + (h ? h + ":" + pad(m, 2) + ":" + sec : m + ":" + sec);
  }
  const NONSPEECH = "#d9d9d9", SEGMENT_SHADES = ["#8fa8c8", "#c3d1e3"];
  const colourOf = (kind, label) => label === null ? null : (data.colours[kind][label] || "#999");

  // ---------------------------------------------------------------- text: title, summary, legend, lists
  $("title").textContent = data.uri;
  const speakers = Object.keys(data.colours.detected);
  const parts = [data.changes.length + (data.changes.length === 1 ? " change" : " changes"),
                 data.segments.length + (data.segments.length === 1 ? " segment" : " segments"),
                 clock(duration) + " long"];
  if (data.labelled) parts.push(speakers.length + (speakers.length === 1 ? " speaker" : " speakers"));
  if (data.reference) parts.push("reference: " + Object.keys(data.colours.reference).length + " speakers, " + data.reference.length + " turns");
  if (data.model) parts.push("model: " + data.model);
  $("summary").textContent = parts.join(" · ");
  document.body.dataset.changes = String(data.changes.length);

  const legend = $("legend");
  function legendItem(kind, colour, text, attrs) {
    const li = el("li", attrs || {});
    const mark = el("span", { "class": kind === "line" ? "line" : "swatch" });
    if (kind === "line") mark.style.borderTopColor = colour; else mark.style.background = colour;
    li.appendChild(mark); li.appendChild(el("span", {}, text)); legend.appendChild(li);
  }
  if (envelope) legendItem("line", "#777", "waveform");
  legendItem("line", "#1f77b4", data.score_label);
  legendItem("line", "#ff7f0e", data.threshold_label);
  legendItem("line", "#d62728", "detected change (" + data.changes.length + ")");
  if (data.candidates.length) legendItem("line", "#9467bd", "re-scored candidate");
  if (data.dropped.length) legendItem("line", "#7f7f7f", "dropped: one speaker cluster");
  if (data.reference) legendItem("line", "#2ca02c", "reference turn boundary");
  for (const label of speakers) legendItem("swatch", data.colours.detected[label], "detected: " + label, { "data-kind": "detected", "data-label": label, "data-colour": data.colours.detected[label] });
  for (const label of Object.keys(data.colours.reference)) legendItem("swatch", data.colours.reference[label], "reference: " + label, { "data-kind": "reference", "data-label": label, "data-colour": data.colours.reference[label] });
  if (data.labelled && data.segments.some((s) => s[2] === null)) legendItem("swatch", NONSPEECH, "non-speech");

  const tbody = $("turns").querySelector("tbody");
  data.segments.forEach((seg, i) => {
    const tr = el("tr", { "data-start": seg[0], "data-end": seg[1], "data-label": seg[2] === null ? "" : seg[2] });
    tr.appendChild(el("td", {}, String(i)));
    tr.appendChild(el("td", {}, clock(seg[0], 2)));
    tr.appendChild(el("td", {}, clock(seg[1], 2)));
    tr.appendChild(el("td", {}, (seg[1] - seg[0]).toFixed(2)));
    const td = el("td", { "class": "label" });
    if (seg[2] !== null) { const sw = el("span", { "class": "swatch" }); sw.style.background = colourOf("detected", seg[2]); td.appendChild(sw); td.appendChild(document.createTextNode(" " + seg[2])); }
    else td.textContent = data.labelled ? "non-speech" : "—";
    tr.appendChild(td);
    tr.addEventListener("click", () => { focus(seg[0], seg[1]); seek(seg[0]); });
    tbody.appendChild(tr);
  });
  $("turn-count").textContent = data.segments.length + " segments" + (data.labelled ? " with speaker labels" : "");
  const changeBox = $("changes");
  data.changes.forEach((t) => { const b = el("button", { "data-time": t }, clock(t, 2)); b.addEventListener("click", () => { focus(t - 5, t + 5); seek(t); }); changeBox.appendChild(b); });
  $("change-count").textContent = data.changes.length + " detected changes";

  // ---------------------------------------------------------------- audio
  let audio = null;
  if (data.audio) {
    audio = el("audio", { controls: "", preload: "metadata", src: data.audio.src });
    $("player").appendChild(audio);
    if (!data.audio.embedded) $("player").appendChild(el("p", { "class": "help" }, "Audio is linked, not embedded: keep " + data.audio.name + " beside this page as it was when the report was written."));
    audio.addEventListener("play", () => { $("play").textContent = "❚❚ pause"; tick(); });
    audio.addEventListener("pause", () => { $("play").textContent = "▶ play"; });
  } else {
    $("play").disabled = true;
    $("player").appendChild(el("p", { "class": "help" }, "No audio was available when this report was written: the timeline works, playback does not."));
  }

  // ---------------------------------------------------------------- geometry and view
  const canvas = $("timeline"), overview = $("overview");
  const LEFT = 84, RIGHT = 24;
  const rows = [];
  if (envelope) rows.push({ name: "waveform", h: 56 });
  rows.push({ name: "score", h: 120 });
  rows.push({ name: data.labelled ? "detected" : "segments", h: 24, kind: "detected" });
  if (data.reference) rows.push({ name: "reference", h: 24, kind: "reference" });
  let y = 6;
  for (const r of rows) { r.y = y; y += r.h + 4; }
  const AXIS_Y = y, HEIGHT = y + 22;
  let view = { start: 0, end: duration };
  let lastSeek = null, hoverX = null;
  const MIN_SPAN = Math.min(duration, 0.5);
  const plotWidth = () => Math.max(10, canvas.clientWidth - LEFT - RIGHT);
  const timeAt = (x) => view.start + (x - LEFT) / plotWidth() * (view.end - view.start);
  const xAt = (t) => LEFT + (t - view.start) / (view.end - view.start) * plotWidth();
  function setView(start, end) {
    let span = Math.min(Math.max(end - start, MIN_SPAN), duration);
    start = Math.min(Math.max(start, 0), duration - span);
    view = { start: start, end: start + span };
    draw();
    return [view.start, view.end];
  }
  const zoom = (factor, centre) => { const c = centre === undefined ? (view.start + view.end) / 2 : centre; return setView(c - (c - view.start) * factor, c + (view.end - c) * factor); };
  const pan = (fraction) => { const d = (view.end - view.start) * fraction; return setView(view.start + d, view.end + d); };
  const focus = (a, b) => { const span = Math.max(b - a, MIN_SPAN), pad = span * 0.25; return setView(a - pad, b + pad); };
  function seek(t) {
    t = Math.min(Math.max(t, 0), duration);
    lastSeek = t;
    if (audio) { audio.currentTime = t; const p = audio.play(); if (p && p.catch) p.catch(() => {}); }
    draw();
    return t;
  }
  const playhead = () => audio ? audio.currentTime : (lastSeek === null ? null : lastSeek);

  // ---------------------------------------------------------------- drawing
  function fit(c, h) {
    const dpr = window.devicePixelRatio || 1, w = c.clientWidth;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); c.style.height = h + "px"; }
    const ctx = c.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0); return ctx;
  }
  function curve(ctx, values, step, top, h, colour, mirror) {
    // per pixel column: min and max of the frames under it, so that no peak vanishes when zoomed out
    const w = plotWidth(), span = view.end - view.start, perPx = span / w / step;
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 1;
    if (perPx <= 1.5) {
      const i0 = Math.max(0, Math.floor(view.start / step) - 1), i1 = Math.min(values.length - 1, Math.ceil(view.end / step) + 1);
      ctx.beginPath();
      for (let i = i0; i <= i1; i++) { const x = xAt(i * step), v = values[i]; if (mirror) { ctx.moveTo(x, top + h / 2 - v * h / 2); ctx.lineTo(x, top + h / 2 + v * h / 2); } else if (i === i0) ctx.moveTo(x, top + h - v * h); else ctx.lineTo(x, top + h - v * h); }
      ctx.stroke();
      return;
    }
    ctx.beginPath();
    for (let px = 0; px < w; px++) {
      const a = Math.max(0, Math.floor((view.start + px / w * span) / step)), b = Math.min(values.length, Math.ceil((view.start + (px + 1) / w * span) / step));
      if (b <= a) continue;
      let lo = 1, hi = 0;
      for (let i = a; i < b; i++) { const v = values[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
      const x = LEFT + px + 0.5;
      if (mirror) { ctx.moveTo(x, top + h / 2 - hi * h / 2); ctx.lineTo(x, top + h / 2 + hi * h / 2 + 0.5); }
      else { ctx.moveTo(x, top + h - hi * h); ctx.lineTo(x, top + h - lo * h + 0.5); }
    }
    ctx.stroke();
  }
  function bars(ctx, items, kind, top, h) {
    const labelled = kind === "reference" || data.labelled;
    items.forEach((it, i) => {
      const a = it[0], b = it[1], label = it[2];
      if (b < view.start || a > view.end) return;
      let colour = labelled ? colourOf(kind, label) : SEGMENT_SHADES[i % 2];
      if (colour === null) colour = NONSPEECH;
      const x0 = Math.max(LEFT, xAt(a)), x1 = Math.min(LEFT + plotWidth(), xAt(b));
      ctx.fillStyle = colour; ctx.fillRect(x0, top, Math.max(1, x1 - x0 - 1), h);
      if (labelled && label !== null && x1 - x0 > 8 * label.length + 8) {
        ctx.fillStyle = "#fff"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
        ctx.fillText(label, x0 + 4, top + h / 2);
      }
    });
  }
  function vlines(ctx, times, top, bottom, colour, width, dash) {
    ctx.save(); ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.setLineDash(dash || []);
    ctx.beginPath();
    for (const t of times) { if (t < view.start || t > view.end) continue; const x = Math.round(xAt(t)) + 0.5; ctx.moveTo(x, top); ctx.lineTo(x, bottom); }
    ctx.stroke(); ctx.restore();
  }
  function tickStep(span, px) {
    const want = span / Math.max(2, px / 90);
    for (const s of [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]) if (s >= want) return s;
    return Math.ceil(want / 3600) * 3600;
  }
  function draw() {
    const ctx = fit(canvas, HEIGHT), w = plotWidth();
    ctx.clearRect(0, 0, canvas.clientWidth, HEIGHT);
    ctx.fillStyle = "#333"; ctx.font = "12px system-ui, sans-serif"; ctx.textBaseline = "middle";
    for (const r of rows) { ctx.fillText(r.name, 6, r.y + r.h / 2); ctx.fillStyle = "#fafafa"; ctx.fillRect(LEFT, r.y, w, r.h); ctx.fillStyle = "#333"; }
    ctx.save(); ctx.beginPath(); ctx.rect(LEFT, 0, w, HEIGHT); ctx.clip();
    const top = rows[0].y, scoreRow = rows.find((r) => r.name === "score");
    const curveBottom = scoreRow.y + scoreRow.h;
    for (const r of rows) {
      if (r.name === "waveform") curve(ctx, envelope, data.envelope.step, r.y, r.h, "#777", true);
      else if (r.name === "score") {
        curve(ctx, scores, data.frame_step, r.y, r.h, "#1f77b4", false);
        const ty = r.y + r.h - data.threshold * r.h;
        ctx.save(); ctx.strokeStyle = "#ff7f0e"; ctx.setLineDash([6, 4]); ctx.beginPath(); ctx.moveTo(LEFT, ty); ctx.lineTo(LEFT + w, ty); ctx.stroke(); ctx.restore();
        ctx.fillStyle = "#9467bd";
        for (const c of data.candidates) { if (c[0] < view.start || c[0] > view.end) continue; ctx.beginPath(); ctx.arc(xAt(c[0]), r.y + r.h - Math.min(c[1], 1) * r.h, 2.5, 0, 2 * Math.PI); ctx.fill(); }
      } else if (r.kind === "detected") bars(ctx, data.segments, "detected", r.y, r.h);
      else if (r.kind === "reference") bars(ctx, data.reference, "reference", r.y, r.h);
    }
    // zoomed out over many changes, full-height lines would merge into a wall: short ticks instead
    const visible = (times) => times.reduce((n, t) => n + (t >= view.start && t <= view.end ? 1 : 0), 0);
    const dense = visible(data.changes) > w / 8;
    if (data.reference) {
      const bounds = []; for (const t of data.reference) bounds.push(t[0], t[1]);
      if (dense) vlines(ctx, bounds, curveBottom - 8, curveBottom, "#2ca02c", 1);
      else vlines(ctx, bounds, scoreRow.y, curveBottom, "#2ca02c", 1, [2, 3]);
    }
    if (dense) {
      vlines(ctx, data.dropped, scoreRow.y + 10, scoreRow.y + 18, "#7f7f7f", 1);
      vlines(ctx, data.changes, scoreRow.y, scoreRow.y + 10, "#d62728", 1);
    } else {
      vlines(ctx, data.dropped, top, curveBottom, "#7f7f7f", 1, [4, 3]);
      vlines(ctx, data.changes, top, curveBottom, "#d62728", 1.5);
    }
    const p = playhead();
    if (p !== null) vlines(ctx, [p], 0, AXIS_Y, "#000", 1.5);
    if (hoverX !== null) vlines(ctx, [timeAt(hoverX)], 0, AXIS_Y, "rgba(0,0,0,.35)", 1);
    ctx.restore();
    // time axis
    const span = view.end - view.start, step = tickStep(span, w), decimals = step < 0.1 ? 2 : step < 1 ? 1 : 0;
    ctx.strokeStyle = "#999"; ctx.fillStyle = "#333"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "top"; ctx.textAlign = "center";
    ctx.beginPath(); ctx.moveTo(LEFT, AXIS_Y); ctx.lineTo(LEFT + w, AXIS_Y);
    for (let t = Math.ceil(view.start / step) * step; t <= view.end + 1e-9; t += step) { const x = Math.round(xAt(t)) + 0.5; ctx.moveTo(x, AXIS_Y); ctx.lineTo(x, AXIS_Y + 4); ctx.fillText(clock(t, decimals), x, AXIS_Y + 6); }
    ctx.stroke(); ctx.textAlign = "start";
    drawOverview();
    $("position").textContent = clock(view.start) + " – " + clock(view.end) + (p !== null ? "   ▸ " + clock(p, 2) : "");
  }
  function drawOverview() {
    const ctx = fit(overview, 44), w = overview.clientWidth - LEFT - RIGHT;
    ctx.clearRect(0, 0, overview.clientWidth, 44);
    ctx.fillStyle = "#333"; ctx.font = "12px system-ui, sans-serif"; ctx.textBaseline = "middle"; ctx.fillText("whole file", 6, 22);
    const X = (t) => LEFT + t / duration * w;
    data.segments.forEach((s, i) => { let c = data.labelled ? colourOf("detected", s[2]) : SEGMENT_SHADES[i % 2]; ctx.fillStyle = c === null ? NONSPEECH : c; ctx.fillRect(X(s[0]), 4, Math.max(1, X(s[1]) - X(s[0])), 14); });
    ctx.strokeStyle = "#1f77b4"; ctx.beginPath();
    for (let px = 0; px < w; px++) {
      const a = Math.floor(px / w * scores.length), b = Math.max(a + 1, Math.floor((px + 1) / w * scores.length));
      let hi = 0; for (let i = a; i < b && i < scores.length; i++) if (scores[i] > hi) hi = scores[i];
      ctx.moveTo(LEFT + px + 0.5, 42); ctx.lineTo(LEFT + px + 0.5, 42 - hi * 20);
    }
    ctx.stroke();
    ctx.fillStyle = "rgba(0, 0, 0, .12)"; ctx.strokeStyle = "#000";
    const a = X(view.start), b = X(view.end);
    ctx.fillRect(a, 1, Math.max(2, b - a), 42); ctx.strokeRect(a + 0.5, 1.5, Math.max(2, b - a) - 1, 41);
  }
  function tick() { draw(); const p = playhead(); if (audio && !audio.paused) { if (p > view.end || p < view.start) { const span = view.end - view.start; setView(p - span * 0.1, p + span * 0.9); } requestAnimationFrame(tick); } }

  // ---------------------------------------------------------------- interaction
  const localX = (e, c) => e.clientX - c.getBoundingClientRect().left;
  let drag = null;
  canvas.addEventListener("mousedown", (e) => { drag = { x: localX(e, canvas), view: { start: view.start, end: view.end }, moved: false }; e.preventDefault(); });
  window.addEventListener("mousemove", (e) => {
    if (drag) {
      const dx = localX(e, canvas) - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) { const dt = dx / plotWidth() * (drag.view.end - drag.view.start); setView(drag.view.start - dt, drag.view.end - dt); }
    }
  });
  window.addEventListener("mouseup", (e) => {
    if (!drag) return;
    const x = localX(e, canvas), moved = drag.moved; drag = null;
    if (!moved && x >= LEFT && x <= LEFT + plotWidth()) seek(timeAt(x));
  });
  canvas.addEventListener("mousemove", (e) => {
    const x = localX(e, canvas), tip = $("hover");
    if (x < LEFT || x > LEFT + plotWidth()) { hoverX = null; tip.style.display = "none"; draw(); return; }
    hoverX = x; const t = timeAt(x);
    const seg = data.segments.find((s) => s[0] <= t && t < s[1]);
    tip.textContent = clock(t, 2) + (seg && seg[2] !== null ? "  " + seg[2] : "");
    tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 12) + "px"; tip.style.display = "block";
    draw();
  });
  canvas.addEventListener("mouseleave", () => { hoverX = null; $("hover").style.display = "none"; draw(); });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const horizontal = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
    if (horizontal) pan((e.shiftKey ? e.deltaY : e.deltaX) / plotWidth());
    else zoom(Math.exp(e.deltaY * 0.0015), timeAt(localX(e, canvas)));
  }, { passive: false });
  function overviewTo(e) { const w = overview.clientWidth - LEFT - RIGHT, t = (localX(e, overview) - LEFT) / w * duration, span = view.end - view.start; setView(t - span / 2, t + span / 2); }
  let overviewDrag = false;
  overview.addEventListener("mousedown", (e) => { overviewDrag = true; overviewTo(e); e.preventDefault(); });
  window.addEventListener("mousemove", (e) => { if (overviewDrag) overviewTo(e); });
  window.addEventListener("mouseup", () => { overviewDrag = false; });
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  $("pan-left").addEventListener("click", () => pan(-0.25));
  $("pan-right").addEventListener("click", () => pan(0.25));
  $("fit").addEventListener("click", () => setView(0, duration));
  $("play").addEventListener("click", () => { if (!audio) return; if (audio.paused) { const p = audio.play(); if (p && p.catch) p.catch(() => {}); } else audio.pause(); });
  document.addEventListener("keydown", (e) => {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "AUDIO")) return;
    if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
    else if (e.key === "0") setView(0, duration);
    else if (e.key === "ArrowLeft") pan(-0.25);
    else if (e.key === "ArrowRight") pan(0.25);
    else if (e.key === " " && audio) { e.preventDefault(); $("play").click(); }
    else return;
  });
  window.addEventListener("resize", draw);

  window.turnpointReport = {
    data: data, canvas: canvas, plotLeft: LEFT, timeAt: timeAt, xAt: xAt, setView: setView, zoom: zoom, pan: pan, seek: seek,
    view: () => [view.start, view.end], get lastSeek() { return lastSeek; }, get audio() { return audio; },
  };
  draw();
  document.body.dataset.ready = "1";
})();
</script>
</body>
</html>
"""
