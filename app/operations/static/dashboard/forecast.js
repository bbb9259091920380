// Forecast: pick a model, a version or alias and a horizon (and, for a global model, which of
// its member series); draw history, forecast and the 80/95 % bands; show the version's holdout
// report and its backtest folds.

import { api, apiImage, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, options, percent } from "./dom.js";
import { drawForecast } from "./chart.js";
import { go, shownNow, stillShown } from "./nav.js";
import { searchPicker } from "./picker.js";

// History shown: four times the horizon, within these bounds.
const HISTORY_POINTS = { min: 30, max: 250 };
const form = () => $("#forecast-form");
const VERSIONS_LISTED = 50;
let modelPicker = null;
let seriesPicker = null;
const problemBox = () => $("#view-forecast > .problem");

// The version picker (aliases, then the newest versions, and the one asked for) and, for a
// global model, the series picker (any series: a global model forecasts any of them).
// shown: the number of the URL this is for (nav.js); nothing is drawn once another is shown.
async function picks(model, selected, seriesId, shown = shownNow()) {
  const path = `/v1/models/${encodeURIComponent(model)}`;
  const [summary, page] = await Promise.all([
    api(path), api(`${path}/versions?${query({ sort: "-version", limit: VERSIONS_LISTED })}`),
  ]);
  if (!stillShown(shown)) return;
  const aliases = Object.entries(summary.aliases).map(([alias, v]) => [`alias:${alias}`, `${alias} (v${v})`]);
  const numbered = page.items.map((v) => [`version:${v.version}`, `v${v.version}`]);
  if (selected && !aliases.concat(numbered).some(([value]) => value === selected)) {
    numbered.push([selected, selected.replace("version:", "v").replace("alias:", "")]);
  }
  // Nothing asked for: the model's first alias, else its latest version (never the pick
  // left over from the model shown before, which may name a version this one also has).
  const choices = [...aliases, ...numbered];
  options(form().elements.pick, choices, selected ?? choices[0]?.[0]);
  // A model's versions are all of one scope.
  const global = page.items.some((v) => v.scope === "global");
  $("#forecast-series").hidden = !global;
  if (!global) return;
  let label = null;
  if (seriesId) label = (await api(`/v1/series/${encodeURIComponent(seriesId)}`)).name;
  if (stillShown(shown)) await seriesPicker(seriesId, label);
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

function realized(body, image) {
  const rows = body.groups.filter((g) => g.scored + g.missing + g.pending > 0);
  const cov = (g, level) => (g.coverage[level] === undefined ? "–" : percent(g.coverage[level]));
  fill($("#realized-table tbody"), rows.map((g) => h("tr", { "data-step": g.group },
    h("td", {}, g.group), h("td", { class: "num" }, String(g.scored)),
    h("td", { class: "num" }, `${g.pending} / ${g.missing}`),
    h("td", { class: "num" }, number(g.rmse)), h("td", { class: "num" }, number(g.naive_rmse)),
    h("td", { class: g.skill_vs_naive > 0 ? "num ok" : "num warn" }, percent(g.skill_vs_naive)),
    h("td", { class: "num" }, number(g.promised_rmse)),
    h("td", { class: "num" }, number(g.realized_to_promised, 3)),
    h("td", { class: "num" }, cov(g, "80")), h("td", { class: "num" }, cov(g, "95")))));
  $("#realized-none").hidden = body.total.scored > 0;
  $("#realized-table").hidden = rows.length === 0;
  const img = $("#realized-plot");
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = image;
  img.hidden = body.total.scored === 0;
  $("#realized").hidden = false;
}

async function show(shown) {
  const fields = form().elements;
  const [kind, value] = fields.pick.value.split(":");
  const params = { model: fields.model.value, horizon: fields.horizon.value, level: [80, 95], [kind]: value };
  if (!$("#forecast-series").hidden) params.series_id = fields.series_id.value;
  const forecast = await api(`/v1/forecast?${query(params)}`);
  // Only the tail the chart draws, up to the date the forecast starts from.
  const tail = Math.min(HISTORY_POINTS.max, Math.max(HISTORY_POINTS.min, 4 * forecast.horizon));
  const history = await api(`/v1/series/${forecast.series_id}/observations?${
    query({ field: forecast.field, tail, end: forecast.as_of })}`);
  if (!stillShown(shown)) return;
  const recent = history.observations
    .map((o) => ({ date: o.date, value: o[forecast.field] }))
    .filter((p) => p.value !== null);
  $("#forecast-figure").hidden = false;  // before drawing: the chart takes the figure's width
  drawForecast($("#forecast-chart"), recent, forecast);
  $("#forecast-caption").textContent = `${forecast.model} v${forecast.version}, ${forecast.field}: ` +
    `${forecast.horizon} step(s) after ${forecast.as_of} (${forecast.strategy}); bands at ${forecast.levels.join(" and ")} %.`;
  table(forecast);
  const model = encodeURIComponent(forecast.model);
  const body = await api(`/v1/models/${model}/versions/${forecast.version}/report`);
  if (!stillShown(shown)) return;
  report(body);
  const scope = query({ version: forecast.version, series_id: forecast.series_id });
  const [accuracy, image] = await Promise.all([
    api(`/v1/models/${model}/accuracy?${scope}&group_by=step`),
    apiImage(`/v1/models/${model}/accuracy.svg?${scope}`),
  ]);
  if (stillShown(shown)) realized(accuracy, image);
  else URL.revokeObjectURL(image);
}

// The form's choice as the view's URL parameters.
function chosen() {
  const fields = form().elements;
  const [kind, value] = fields.pick.value.split(":");
  const params = { model: fields.model.value, [kind]: value, horizon: fields.horizon.value };
  if (!$("#forecast-series").hidden) params.series = fields.series_id.value;
  return params;
}

export function initForecast() {
  modelPicker = searchPicker(form().elements.model, $("#forecast-model-search"), $("#forecast-model-note"), {
    load: (prefix, limit) => api(`/v1/models?${query({ prefix, limit })}`),
    option: (m) => [m.name, m.name],
    onpick: (name) => attempt(() => picks(name), problemBox()),
    followSearch: true,
  });
  seriesPicker = searchPicker(form().elements.series_id, $("#forecast-series-search"), $("#forecast-series-note"), {
    load: (prefix, limit) => api(`/v1/series?${query({ prefix, limit })}`),
    option: (s) => [s.id, s.name],
  });
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    go("forecast", chosen());
  });
}

// #forecast?model=…[&version=N | &alias=A][&series=ID][&horizon=H] draws that forecast (the
// first alias, else the latest version, when neither is given); #forecast alone, the form.
export async function showForecast(params) {
  const shown = shownNow();
  const view = $("#view-forecast");
  view.setAttribute("aria-busy", "true");  // until the URL's forecast is drawn (or refused)
  try {
    await drawFromUrl(params, shown);
  } finally {
    if (stillShown(shown)) view.removeAttribute("aria-busy");
  }
}

async function drawFromUrl(params, shown) {
  const model = params.get("model");
  const listed = await attempt(async () => {
    await modelPicker(model);
    return true;
  });
  if (!listed || !stillShown(shown) || !form().elements.model.value) return;
  const version = params.get("version");
  const alias = params.get("alias");
  const pick = version ? `version:${version}` : alias ? `alias:${alias}` : undefined;
  form().elements.horizon.value = params.get("horizon") || "10";
  const ready = await attempt(async () => {
    await picks(form().elements.model.value, pick, params.get("series"), shown);
    return true;
  }, problemBox());
  if (ready && model && stillShown(shown)) await attempt(() => show(shown), problemBox());
}
