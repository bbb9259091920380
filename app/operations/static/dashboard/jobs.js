// Training jobs: start one (any spec the API accepts), watch live progress, cancel.

import { api, idempotencyKey, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, options, seconds, specOf } from "./dom.js";
import { link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";
import { searchPicker } from "./picker.js";

const ACTIVE = new Set(["queued", "running"]);
let timer = null;
const seriesById = new Map();
let seriesPicker = null;
let listed = { offset: 0, limit: 25, batch: "", series: "" };

const form = () => $("#train-form");

function targets(seriesId) {
  const series = seriesById.get(Number(seriesId));
  options(form().elements.target, [["", "(default)"], ...(series ? series.fields.map((f) => [f, f]) : [])]);
}

function progressCell(job) {
  const p = job.progress;
  if (!p) return h("td", {}, job.status === "queued" ? "waiting for a worker" : "–");
  const candidate = p.epoch < p.epochs ? `, candidate ${p.epoch + 1} of ${p.epochs}` : "";
  const what = p.stage ? `${p.stage}${candidate}` : `epoch ${p.epoch} of ${p.epochs}`;
  return h("td", {},
    h("progress", { max: p.epochs, value: p.epoch, "aria-label": what }),
    p.stage ? ` ${p.stage} (${p.epoch}/${p.epochs})` : ` ${p.epoch}/${p.epochs}`);
}

function resultCell(job) {
  if (job.model_version) {
    const { name, version } = job.model_version;
    const promoted = job.promotion && job.promotion.promoted !== null
      ? ` · ${job.promotion.alias}: ${job.promotion.promoted ? "promoted" : "not promoted"}` : "";
    return h("td", {}, h("a", { href: `#models?model=${encodeURIComponent(name)}` }, `${name} v${version}`), promoted);
  }
  return h("td", { class: job.error ? "warn" : "" }, job.error || "");
}

function row(job) {
  const cancellable = ACTIVE.has(job.status) && !job.cancel_requested;
  return h("tr", { "data-job": job.id, "data-status": job.status },
    h("td", {}, String(job.id)),
    h("td", {}, `${job.model_name} · ${job.target}`),
    h("td", {}, h("span", { class: `status status-${job.status}` }, job.cancel_requested && ACTIVE.has(job.status) ? "cancelling" : job.status)),
    progressCell(job),
    h("td", { class: "num" }, job.progress ? number(job.progress.loss) : "–"),
    h("td", {}, job.progress && job.status === "running" ? seconds(job.progress.eta_s) : "–"),
    resultCell(job),
    h("td", {}, cancellable ? h("button", { type: "button", onclick: () => cancel(job.id) }, "Cancel") : null));
}

async function cancel(id) {
  await attempt(() => api(`/v1/training-jobs/${id}/cancel`, { method: "POST" }));
  await refresh();
}

// The page of jobs the URL asks for, polled: every second while one of them runs.
async function refresh(shown = shownNow()) {
  const { offset, limit, batch, series } = listed;
  const page = await attempt(() => api(`/v1/training-jobs?${query({ limit, offset, batch_id: batch, series_id: series })}`));
  if (!page || !stillShown(shown)) return;
  fill($("#jobs-table tbody"), page.items.map(row));
  const filter = batch ? `Jobs of batch ${batch}. ` : series ? `Jobs on series ${series}. ` : "";
  $("#jobs-filter").replaceChildren(filter, filter ? h("a", { href: link("jobs") }, "All jobs") : "");
  const href = (to) => link("jobs", { batch, series, limit: limit === 25 ? "" : limit, offset: to || "" });
  pager($("#jobs-pager"), page, { href, label: "Job pages" });
  const busy = page.items.some((j) => ACTIVE.has(j.status));
  clearTimeout(timer);
  if (!$("#view-jobs").hidden) timer = setTimeout(() => refresh(shown), busy ? 1000 : 5000);
}

export function initJobs() {
  seriesPicker = searchPicker(form().elements.series_id, $("#train-series-search"), $("#train-series-note"), {
    load: async (prefix, limit) => {
      const page = await api(`/v1/series?${query({ prefix, limit })}`);
      for (const s of page.items) seriesById.set(s.id, s);
      return page;
    },
    option: (s) => [s.id, `${s.name} (${s.id})`],
    onpick: (id) => targets(id),
    followSearch: true,
  });
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = $(".problem", form());
    const fields = form().elements;
    const spec = specOf(fields.spec, problem);
    if (spec === null) return;
    const body = { ...spec, series_id: Number(fields.series_id.value) };
    for (const name of ["target", "model_name", "promote_to"]) {
      if (fields[name].value.trim()) body[name] = fields[name].value.trim();
    }
    const key = idempotencyKey();  // one per press: the Retry of a lost answer starts no second job
    attempt(async () => {
      await api("/v1/training-jobs", { method: "POST", json: body, headers: { "Idempotency-Key": key } });
      await refresh();
    }, problem);
  });
}

// #jobs[?series=ID][&batch=ID][&offset=N][&limit=N]: the train form on that series, the jobs
// of that series or batch (all jobs without), newest first, paged on the server.
export async function showJobs(params) {
  const series = params.get("series") || "";
  listed = { ...pageParams(params, 25), batch: params.get("batch") || "", series };
  if (series && !seriesById.has(Number(series))) {  // a 404 goes to the banner
    await attempt(async () => {
      const one = await api(`/v1/series/${encodeURIComponent(series)}`);
      seriesById.set(one.id, one);
    });
  }
  const picked = seriesById.get(Number(series));
  await attempt(async () => {
    await seriesPicker(picked ? series : null, picked ? `${picked.name} (${picked.id})` : null);
    targets(form().elements.series_id.value);
  });
  await refresh();
}

export function hideJobs() {
  clearTimeout(timer);
}
