// The forecast chart, drawn by uPlot (vendored: uPlot.iife.min.js, see VENDORED.md): recent
// history, the forecast and its interval bands on a real time axis, round ticks, a legend that
// shows the values under the cursor. The tick labels drawn are also written to the chart's
// data-x-ticks / data-y-ticks (what the browser tests read; the canvas has no text to read).

const { uPlot } = window;
const HEIGHT = 320;
const DAY = 86400;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const COLORS = { history: "#1d2430", forecast: "#1f5fbf", 80: "rgba(31, 95, 191, 0.30)", 95: "rgba(31, 95, 191, 0.14)" };

// Dates from the API are UTC ("2024-01-05" or "2024-01-05T14:00:00"): seconds since the epoch.
const seconds = (date) => Date.parse(date.length === 10 ? `${date}T00:00:00Z` : `${date}Z`) / 1000;
const pad = (n) => String(n).padStart(2, "0");

// Tick labels for the time axis, as fine as the step between ticks needs.
function timeLabels(splits, step) {
  let previous = null;
  return splits.map((s) => {
    const d = new Date(s * 1000);
    const [y, m, day] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
    let label;
    if (step >= 360 * DAY) label = String(y);
    else if (step >= 28 * DAY) label = m === 0 || previous === null ? `${MONTHS[m]} ${y}` : MONTHS[m];
    else if (step >= DAY) label = previous === null || previous.getUTCFullYear() !== y ? `${MONTHS[m]} ${day}, ${y}` : `${MONTHS[m]} ${day}`;
    else {
      const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
      label = previous === null || previous.getUTCDate() !== day ? `${MONTHS[m]} ${day} ${time}` : time;
    }
    previous = d;
    return label;
  });
}

// Value labels with as many decimals as the (round) step between ticks has.
function valueLabels(splits, step) {
  const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
  return splits.map((v) => v.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals }));
}

const valueText = (u, v) => (v === null || v === undefined ? "–" : Number(v).toPrecision(6));

// history: [{date, value}] oldest first; forecast: the service's ForecastResponse.
export function drawForecast(container, history, forecast) {
  const levels = [...forecast.levels].sort((a, b) => b - a);  // widest first: drawn below
  const last = history[history.length - 1];
  const spacing = history.length > 1 ? (seconds(last.date) - seconds(history[0].date)) / (history.length - 1) : DAY;
  const times = [
    ...history.map((p) => seconds(p.date)),
    ...forecast.points.map((p, i) => (p.date ? seconds(p.date) : seconds(last.date) + spacing * (i + 1))),
  ];
  const before = history.map(() => null).slice(1);  // forecast lines start at the last value
  const series = [
    [...history.map((p) => p.value), ...forecast.points.map(() => null)],
    [...before, last.value, ...forecast.points.map((p) => p.value)],
  ];
  const specs = [
    { label: "History", stroke: COLORS.history, width: 1.5, value: valueText },
    { label: "Forecast", stroke: COLORS.forecast, width: 2, value: valueText },
  ];
  const bands = [];
  for (const level of levels) {
    for (const side of ["hi", "lo"]) {
      series.push([...before, last.value, ...forecast.points.map((p) => p[`${side}_${level}`] ?? null)]);
      specs.push({ label: `${level} % ${side === "hi" ? "high" : "low"}`, stroke: COLORS[level] || COLORS[95], width: 1, value: valueText });
    }
    // uPlot numbers series from 1 (0 is x): the high and low just pushed.
    bands.push({ series: [series.length - 1, series.length], fill: COLORS[level] || COLORS[95] });
  }
  const ticks = { x: [], y: [] };
  const options = {
    width: Math.max(280, container.clientWidth),
    height: HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true } },
    series: [{ label: "Date", value: (u, ts) => (ts === null ? "–" : timeLabels([ts], DAY)[0]) }, ...specs],
    bands,
    axes: [
      { values: (u, splits, axis, space, step) => (ticks.x = timeLabels(splits, step)), space: 70 },
      { values: (u, splits, axis, space, step) => (ticks.y = valueLabels(splits, step)), size: 70 },
    ],
    hooks: {
      draw: [() => {
        container.dataset.xTicks = ticks.x.join("|");
        container.dataset.yTicks = ticks.y.join("|");
      }],
    },
    legend: { live: true },
  };
  if (container.chart) container.chart.destroy();
  container.replaceChildren();
  container.chart = new uPlot(options, [times, ...series], container);
  if (!container.resizer) {
    // Follow the container's width (a phone turned, a window resized).
    container.resizer = new ResizeObserver(() => {
      if (container.chart && container.clientWidth) container.chart.setSize({ width: container.clientWidth, height: HEIGHT });
    });
    container.resizer.observe(container);
  }
}
