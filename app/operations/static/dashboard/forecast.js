// Forecast: pick a model, a version or alias and a horizon; draw history, forecast and the
// 80/95 % bands; show the version's holdout report and its backtest folds.

import { api, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, options, percent } from "./dom.js";
import { drawForecast } from "./chart.js";

// History shown: four times the horizon, within these bounds.
const HISTORY_POINTS = { min: 30, max: 250 };
const form = () => $("#forecast-form");
const problemBox = () => $("#view-forecast > .problem");

async function picks(model, selected) {
  const [summary, versions] = await Promise.all([
    api(`/v1/models/${encodeURIComponent(model)}`),
    api(`/v1/models/${encodeURIComponent(model)}/versions`),
  ]);
  const aliases = Object.entries(summary.aliases).map(([alias, v]) => [`alias:${alias}`, `${alias} (v${v})`]);
  const numbered = [...versions].reverse().map((v) => [`version:${v.version}`, `v${v.version}`]);
  options(form().elements.pick, [...aliases, ...numbered], selected);
}

function table(forecast) {
  const band = (p, l) => (p[`lo_${l}`] === undefined ? "–" : `${number(p[`lo_${l}`])} – ${number(p[`hi_${l}`])}`);
  fill($("#forecast-table tbody"), forecast.points.map((p) => h("tr", {},
    h("td", {}, String(p.step)), h("td", {}, p.date || "–"), h("td", { class: "num" }, number(p.value, 6)),
    h("td", { class: "num" }, band(p, 80)), h("td", { class: "num" }, band(p, 95)))));
  $("#forecast-table").hidden = false;
}

function report(body) {
  fill($("#report-table tbody"), body.one_step.map((r) => h("tr", { class: r.forecaster === "model" ? "highlight" : "" },
    h("td", {}, r.forecaster), h("td", { class: "num" }, number(r.rmse)), h("td", { class: "num" }, number(r.mae)),
    h("td", { class: "num" }, number(r.mase, 3)), h("td", { class: "num" }, percent(r.skill_vs_naive)))));
  const folds = body.backtest ? body.backtest.folds : [];
  $("#backtest-none").hidden = folds.length > 0;
  $("#backtest-table").hidden = folds.length === 0;
  fill($("#backtest-table tbody"), folds.map((f) => h("tr", {},
    h("td", {}, String(f.fold)), h("td", {}, f.cutoff), h("td", { class: "num" }, String(f.origins)),
    h("td", { class: "num" }, number(f.model_rmse)), h("td", { class: "num" }, number(f.naive_rmse)),
    h("td", { class: "num" }, percent(f.skill_vs_naive)))));
  $("#report").hidden = false;
}

async function show() {
  const fields = form().elements;
  const [kind, value] = fields.pick.value.split(":");
  const params = { model: fields.model.value, horizon: fields.horizon.value, level: [80, 95], [kind]: value };
  const forecast = await api(`/v1/forecast?${query(params)}`);
  const history = await api(`/v1/series/${forecast.series_id}/observations?${query({ field: forecast.field })}`);
  const shown = Math.min(HISTORY_POINTS.max, Math.max(HISTORY_POINTS.min, 4 * forecast.horizon));
  const recent = history.observations.slice(-shown)
    .map((o) => ({ date: o.date, value: o[forecast.field] }))
    .filter((p) => p.value !== null);
  drawForecast($("#forecast-chart"), recent, forecast);
  $("#forecast-caption").textContent = `${forecast.model} v${forecast.version}, ${forecast.field}: ` +
    `${forecast.horizon} step(s) after ${forecast.as_of} (${forecast.strategy}); bands at ${forecast.levels.join(" and ")} %.`;
  $("#forecast-figure").hidden = false;
  table(forecast);
  report(await api(`/v1/models/${encodeURIComponent(forecast.model)}/versions/${forecast.version}/report`));
}

export function initForecast() {
  form().elements.model.addEventListener("change", (e) => attempt(() => picks(e.target.value), problemBox()));
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(show, problemBox());
  });
}

export async function showForecast(params) {
  const page = await attempt(() => api("/v1/models?limit=500"));
  if (!page || !page.items.length) return;
  options(form().elements.model, page.items.map((m) => [m.name, m.name]), params.get("model"));
  const version = params.get("version");
  await attempt(() => picks(form().elements.model.value, version ? `version:${version}` : undefined), problemBox());
  if (version) await attempt(show, problemBox());
}
