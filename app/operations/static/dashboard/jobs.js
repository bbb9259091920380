// Training jobs: start one (any spec the API accepts), watch live progress, cancel.

import { api } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, options, seconds, showProblem } from "./dom.js";

const ACTIVE = new Set(["queued", "running"]);
let timer = null;
let seriesById = new Map();

const form = () => $("#train-form");

function targets(seriesId) {
  const series = seriesById.get(Number(seriesId));
  options(form().elements.target, [["", "(default)"], ...(series ? series.fields.map((f) => [f, f]) : [])]);
}

function progressCell(job) {
  const p = job.progress;
  if (!p) return h("td", {}, job.status === "queued" ? "waiting for a worker" : "–");
  return h("td", {},
    h("progress", { max: p.epochs, value: p.epoch, "aria-label": `epoch ${p.epoch} of ${p.epochs}` }),
    ` ${p.epoch}/${p.epochs}`);
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

async function refresh() {
  const page = await attempt(() => api("/v1/training-jobs?limit=25"));
  if (!page) return;
  fill($("#jobs-table tbody"), page.items.map(row));
  const busy = page.items.some((j) => ACTIVE.has(j.status));
  clearTimeout(timer);
  if (!$("#view-jobs").hidden) timer = setTimeout(refresh, busy ? 1000 : 5000);
}

export function initJobs() {
  form().elements.series_id.addEventListener("change", (e) => targets(e.target.value));
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    const problem = $(".problem", form());
    const fields = form().elements;
    let spec = {};
    try {
      spec = fields.spec.value.trim() ? JSON.parse(fields.spec.value) : {};
      if (typeof spec !== "object" || Array.isArray(spec) || spec === null) throw new Error("not an object");
    } catch (error) {
      showProblem(problem, { title: "Spec is not a JSON object", status: "not sent", detail: error.message });
      return;
    }
    const body = { ...spec, series_id: Number(fields.series_id.value) };
    for (const name of ["target", "model_name", "promote_to"]) {
      if (fields[name].value.trim()) body[name] = fields[name].value.trim();
    }
    attempt(async () => {
      await api("/v1/training-jobs", { method: "POST", json: body });
      await refresh();
    }, problem);
  });
}

export async function showJobs(params) {
  const page = await attempt(() => api("/v1/series?limit=500"));
  if (page) {
    seriesById = new Map(page.items.map((s) => [s.id, s]));
    options(form().elements.series_id, page.items.map((s) => [s.id, `${s.name} (${s.id})`]), params.get("series"));
    targets(form().elements.series_id.value);
  }
  await refresh();
}

export function hideJobs() {
  clearTimeout(timer);
}
