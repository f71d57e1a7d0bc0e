// A small SVG line chart: one metric over time, the rules' limits as dashed lines. About 80
// lines instead of a charting library: the console needs one kind of chart, and SVG scales to
// a phone's width by itself.
const NS = "http://www.w3.org/2000/svg";
const H = 220; // viewBox height; the width is the panel's, so text stays 11 px on a phone
const PAD = { left: 48, right: 12, top: 12, bottom: 24 };

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}

/**
 * Draw `samples` ({ts, value}) between `start` and `end` (ms) with `limits` ({value, label}).
 * Returns the <svg>; its data-points attribute says how many points were drawn.
 */
export function lineChart(samples, limits, start, end, label, width) {
  const W = Math.max(280, Math.round(width || 640));
  const points = samples.filter((s) => typeof s.value === "number")
    .map((s) => [new Date(s.ts).getTime(), s.value]);
  const values = [...points.map((p) => p[1]), ...limits.map((l) => l.value)];
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!values.length) { lo = 0; hi = 1; }
  if (hi === lo) { hi += 1; lo -= 1; }
  const margin = (hi - lo) * 0.08;
  lo -= margin; hi += margin;
  const x = (ts) => PAD.left + ((ts - start) / (end - start)) * (W - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img",
    "aria-label": label, "data-points": points.length });
  chart.append(svg("title", {}, label));
  chart.append(svg("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top,
    y2: H - PAD.bottom }));
  chart.append(svg("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom,
    y2: H - PAD.bottom }));
  for (const v of [lo + margin, (lo + hi) / 2, hi - margin]) {
    chart.append(svg("text", { x: PAD.left - 4, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  const timeFmt = new Intl.DateTimeFormat(document.documentElement.lang, end - start > 86400e3
    ? { month: "numeric", day: "numeric", hour: "2-digit" } : { hour: "2-digit", minute: "2-digit" });
  for (const [ts, anchor] of [[start, "start"], [(start + end) / 2, "middle"], [end, "end"]]) {
    chart.append(svg("text", { x: x(ts), y: H - 6, "text-anchor": anchor },
      timeFmt.format(new Date(ts))));
  }
  for (const l of limits) {
    chart.append(svg("line", { class: "limit", x1: PAD.left, x2: W - PAD.right, y1: y(l.value),
      y2: y(l.value) }));
    chart.append(svg("text", { class: "limit-label", x: W - PAD.right - 2, y: y(l.value) - 3,
      "text-anchor": "end" }, `${l.label} ${fmt(l.value)}`));
  }
  if (points.length) {
    chart.append(svg("polyline", { class: "series",
      points: points.map(([ts, v]) => `${x(ts).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
  }
  if (points.length === 1) { // a single point would be an invisible line
    chart.append(svg("circle", { cx: x(points[0][0]), cy: y(points[0][1]), r: 3, class: "series" }));
  }
  return chart;
}
