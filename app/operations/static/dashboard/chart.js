// The forecast chart as plain SVG: recent history, the forecast, and one band per interval
// level (widest first, so the narrower band draws on top). No charting library, no network.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800;
const HEIGHT = 320;
const PAD = { left: 74, right: 16, top: 14, bottom: 30 };

function el(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const line = (points) => points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");

// history: [{date, value}] oldest first; forecast: the service's ForecastResponse.
export function drawForecast(svg, history, forecast) {
  const points = forecast.points;
  const levels = [...forecast.levels].sort((a, b) => b - a);
  const last = history[history.length - 1];
  const values = [
    ...history.map((p) => p.value),
    ...points.flatMap((p) => [p.value, ...levels.flatMap((l) => [p[`lo_${l}`], p[`hi_${l}`]])]),
  ].filter((v) => Number.isFinite(v));
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (high === low) [low, high] = [low - 1, high + 1];
  const span = history.length - 1 + points.length;
  const x = (i) => PAD.left + ((WIDTH - PAD.left - PAD.right) * i) / Math.max(span, 1);
  const y = (v) => PAD.top + ((HEIGHT - PAD.top - PAD.bottom) * (high - v)) / (high - low);
  const origin = history.length - 1;

  svg.replaceChildren(el("title", {}, `${forecast.model} v${forecast.version}: ${forecast.field}`));
  for (let k = 0; k <= 4; k += 1) {
    const v = low + ((high - low) * k) / 4;
    svg.append(
      el("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) }),
      el("text", { class: "tick", x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, v.toPrecision(5)),
    );
  }
  for (const level of levels) {
    const upper = points.map((p, i) => [x(origin + i + 1), y(p[`hi_${level}`])]);
    const lower = points.map((p, i) => [x(origin + i + 1), y(p[`lo_${level}`])]).reverse();
    const start = [x(origin), y(last.value)];
    svg.append(el("path", {
      class: `band band-${level}`, "data-level": level, d: `${line([start, ...upper, ...lower])}Z`,
    }));
  }
  svg.append(
    el("path", { class: "history", d: line(history.map((p, i) => [x(i), y(p.value)])) }),
    el("path", {
      class: "forecast",
      d: line([[x(origin), y(last.value)], ...points.map((p, i) => [x(origin + i + 1), y(p.value)])]),
    }),
    el("line", { class: "origin", x1: x(origin), x2: x(origin), y1: PAD.top, y2: HEIGHT - PAD.bottom }),
  );
  // Dates under the first point, the last observation and the last forecast (that one only
  // where the forecast is wide enough for it not to collide).
  const labels = [[0, history[0].date, "start"], [origin, last.date, "end"]];
  if (x(span) - x(origin) > 90) labels.push([span, points[points.length - 1].date || `+${points.length}`, "end"]);
  for (const [i, text, anchor] of labels) {
    svg.append(el("text", { class: "tick", x: x(i), y: HEIGHT - 8, "text-anchor": anchor }, text));
  }
}
