// Training batches: start one with any spec (the main fields, or any field as JSON), the list
// (paged on the server), and one batch: live progress and ETA (polled while it runs), cancel,
// the leaderboard sortable by any column and downloadable as CSV, a global batch's members.

import { api, apiDownload, idempotencyKey, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, percent, seconds, skillClass, specOf } from "./dom.js";
import { go, link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";

const MEMBER_PAGE = 100;
let timer = null;
let board = { rows: [], key: null, descending: false };

const form = () => $("#batch-form");
const when = (stamp) => (stamp ? stamp.slice(0, 16).replace("T", " ") : "–");
const finished = (c) => c.succeeded + c.failed + c.cancelled;

function progressBar(batch) {
  const c = batch.counts;
  return h("span", {},
    h("progress", { max: c.total || 1, value: finished(c), "aria-label": `${finished(c)} of ${c.total} jobs finished` }),
    ` ${finished(c)}/${c.total}`);
}

const statusBadge = (batch) => h("span", { class: `status status-${batch.status}` },
  batch.cancel_requested && batch.status !== "done" ? "cancelling" : batch.status);

const target = (batch) => batch.collection ? `collection ${batch.collection}` : "a list of series";

// #batches[?offset=N][&collection=C]: C fills the form's collection.
export async function showBatches(params) {
  clearTimeout(timer);
  if (params.get("collection")) form().elements.collection.value = params.get("collection");
  const { offset, limit } = pageParams(params, 25);
  const shown = shownNow();
  const page = await attempt(() => api(`/v1/training-batches?${query({ limit, offset })}`));
  if (!page || !stillShown(shown)) return;
  fill($("#batches-table tbody"), page.items.map((b) => h("tr", { "data-batch": b.id, "data-status": b.status },
    h("td", {}, h("a", { href: link("batch", { id: b.id }) }, `Batch ${b.id}`)),
    h("td", {}, target(b)), h("td", {}, b.scope), h("td", {}, b.spec.architecture || "–"),
    h("td", {}, statusBadge(b)), h("td", {}, progressBar(b)),
    h("td", {}, b.status === "done" ? "–" : seconds(b.eta_s)), h("td", {}, when(b.created_at)))));
  $("#batches-none").hidden = page.total > 0;
  pager($("#batches-pager"), page, { href: (to) => link("batches", { offset: to || "" }), label: "Batch pages" });
  if (page.items.some((b) => b.status !== "done")) {
    timer = setTimeout(() => stillShown(shown) && showBatches(params), 2000);
  }
}

function sortRows(rows, key, descending) {
  const sign = descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const [x, y] = [a[key], b[key]];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;  // rows without a value last, either way
    if (y === null || y === undefined) return -1;
    return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * sign;
  });
}

const COLUMNS = [
  ["symbol", "Series"], ["status", "Status"], ["model_name", "Model"], ["rmse", "RMSE"],
  ["naive_rmse", "Naive RMSE"], ["skill", "Skill vs naive"], ["best_reference_rmse", "Best reference"],
  ["own_rmse", "Own model RMSE"], ["error", "Note"],
];

function leaderboardRow(r) {
  const model = r.version
    ? h("a", { href: link("forecast", { model: r.model_name, version: r.version, series: r.series_id }) }, `${r.model_name} v${r.version}`)
    : r.model_name;
  return h("tr", { "data-job": r.job_id, "data-symbol": r.symbol || r.series || "" },
    h("td", {}, r.symbol || r.series || "–"), h("td", {}, r.status), h("td", {}, model),
    h("td", { class: "num" }, number(r.rmse)), h("td", { class: "num" }, number(r.naive_rmse)),
    h("td", { class: skillClass(r.skill) }, percent(r.skill)),
    h("td", {}, r.best_reference ? `${r.best_reference} ${number(r.best_reference_rmse)}` : "–"),
    h("td", { class: "num" }, r.own_model ? `${number(r.own_rmse)} (${r.own_model} v${r.own_version})` : "–"),
    h("td", { class: r.error ? "warn" : "" }, r.error || ""));
}

// The leaderboard's header: each column a button that sorts by it (again: the other way).
function drawLeaderboard() {
  const { rows, key, descending } = board;
  const head = COLUMNS.map(([name, title]) => {
    const sorted = key === name ? (descending ? "descending" : "ascending") : "none";
    return h("th", { "aria-sort": sorted },
      h("button", { type: "button", class: "sort", "data-key": name, onclick: () => sortBy(name) },
        title, key === name ? (descending ? " ▼" : " ▲") : ""));
  });
  $("#leaderboard-table thead").replaceChildren(h("tr", {}, head));
  fill($("#leaderboard-table tbody"), (key ? sortRows(rows, key, descending) : rows).map(leaderboardRow));
}

function sortBy(name) {
  board = { ...board, descending: board.key === name ? !board.descending : name === "skill", key: name };
  drawLeaderboard();
  $(`#leaderboard-table button[data-key="${name}"]`).focus();  // the heading was drawn anew
}

function drawMembers(report, offset = 0) {
  $("#batch-members-summary").textContent = `${report.name} v${report.version}: beats naive on ` +
    `${report.beats_naive} of ${report.members.length} members` +
    (report.compared_with_own ? `, beats the series' own model on ${report.beats_own} of ${report.compared_with_own}.` : ".");
  fill($("#batch-members-table tbody"), report.members.slice(offset, offset + MEMBER_PAGE).map((m) => h("tr", { "data-series": m.series_id },
    h("td", {}, h("a", { href: link("forecast", { model: report.name, version: report.version, series: m.series_id }) }, m.series)),
    h("td", { class: "num" }, number(m.rmse)), h("td", { class: "num" }, number(m.naive_rmse)),
    h("td", { class: skillClass(m.skill) }, percent(m.skill)),
    h("td", { class: "num" }, m.own ? `${number(m.own.rmse)} (${m.own.model} v${m.own.version})` : "–"),
    h("td", { class: "num" }, m.own ? percent(m.own.skill_vs_own) : "–"),
    h("td", {}, m.detail || ""))));
  pager($("#batch-members-pager"), { total: report.members.length, limit: MEMBER_PAGE, offset },
    { turn: (to) => drawMembers(report, to), label: "Member pages" });
  $("#batch-members").hidden = false;
}

// #batch?id=N
let drawnBatch = null;

// Nothing of another batch under this one's title.
function blankBatch(id) {
  drawnBatch = null;
  $("#batch-title").textContent = `Batch ${id}`;
  for (const part of ["#batch-status", "#batch-spec", "#leaderboard-summary"]) $(part).replaceChildren();
  $("#batch-cancel").hidden = true;
  $("#batch-skipped-box").hidden = true;
  $("#batch-members").hidden = true;
  board = { ...board, rows: [] };
  drawLeaderboard();
}

export async function showBatch(params) {
  clearTimeout(timer);
  const id = params.get("id");
  const shown = shownNow();
  const base = `/v1/training-batches/${encodeURIComponent(id)}`;
  const [batch, leaderboard] = await attempt(() => Promise.all([api(base), api(`${base}/leaderboard`)])) || [];
  if (!stillShown(shown)) return;
  if (!batch) {
    if (drawnBatch !== id) blankBatch(id);  // a lost poll keeps what it showed
    return;
  }
  drawnBatch = id;
  const c = batch.counts;
  $("#batch-title").textContent = `Batch ${batch.id}: ${batch.scope} on ${target(batch)}`;
  $("#batch-status").replaceChildren(statusBadge(batch), " ", progressBar(batch),
    ` · succeeded ${c.succeeded}, failed ${c.failed}, cancelled ${c.cancelled}, running ${c.running}, queued ${c.queued}`,
    batch.status === "done" ? ` · finished ${when(batch.finished_at)}` : ` · ETA ${seconds(batch.eta_s)}`);
  $("#batch-spec").textContent = JSON.stringify(batch.spec);
  $("#batch-cancel").hidden = batch.status === "done" || batch.cancel_requested;
  $("#batch-jobs").href = link("jobs", { batch: batch.id });
  fill($("#batch-skipped"), batch.skipped.map((s) => h("li", {}, `${s.name}: ${s.detail}`)));
  $("#batch-skipped-box").hidden = batch.skipped.length === 0;
  $("#leaderboard-summary").textContent = `${leaderboard.beats_naive} version(s) beat naive; median skill ` +
    `${percent(leaderboard.median_skill)}.`;
  const csv = $("#leaderboard-csv");
  csv.href = `${base}/leaderboard?format=csv`;
  csv.onclick = (event) => {
    event.preventDefault();
    attempt(() => apiDownload(csv.href, `batch-${id}-leaderboard.csv`));
  };
  board = { ...board, rows: leaderboard.rows };
  drawLeaderboard();
  const global = batch.scope === "global" ? leaderboard.rows.find((r) => r.version) : null;
  $("#batch-members").hidden = true;
  if (global) {
    const report = await attempt(() => api(`/v1/models/${encodeURIComponent(global.model_name)}/versions/${global.version}/members`));
    if (report && stillShown(shown)) drawMembers(report);
  }
  if (batch.status !== "done" && stillShown(shown)) {
    timer = setTimeout(() => stillShown(shown) && showBatch(params), 1000);
  }
}

export function hideBatches() {
  clearTimeout(timer);
}

export function initBatches() {
  $("#batch-cancel").addEventListener("click", () => attempt(async () => {
    const id = new URLSearchParams(location.hash.split("?")[1] || "").get("id");
    await api(`/v1/training-batches/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    go("batch", { id });
  }));
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = $(".problem", form());
    const fields = form().elements;
    const spec = specOf(fields.spec, problem);
    if (spec === null) return;
    const body = { ...spec };
    for (const name of ["collection", "architecture", "scope", "target", "model_prefix", "model_name", "promote_to"]) {
      if (fields[name].value.trim()) body[name] = fields[name].value.trim();
    }
    const ids = fields.series_ids.value.split(/[\s,]+/).filter(Boolean);
    if (ids.length) body.series_ids = ids.map(Number);
    // One key per press of the button: a retry after a lost answer gets the same batch back.
    const key = idempotencyKey();
    attempt(async () => {
      const batch = await api("/v1/training-batches", { method: "POST", json: body, headers: { "Idempotency-Key": key } });
      go("batch", { id: batch.id });
    }, problem);
  });
}
