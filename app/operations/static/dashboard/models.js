// Models: versions with their holdout numbers next to naive and the references, and the
// gated promotion with the gate's answer (the checks) shown whether it moved the alias or not.

import { api, ApiProblem, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, options, percent, showProblem, skillClass } from "./dom.js";
import { go, link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";
import { searchPicker } from "./picker.js";

const form = () => $("#promote-form");
let current = null;
let modelPicker = null;
let filter = { collection: "" };
let versionsPage = { offset: 0, limit: 25 };

function bestReference(metrics) {
  const refs = Object.entries(metrics.references || {}).filter(([, m]) => m.rmse !== null);
  if (!refs.length) return "–";
  const [name, m] = refs.reduce((a, b) => (b[1].rmse < a[1].rmse ? b : a));
  return `${name} ${number(m.rmse)}`;
}

function checksTable(checks) {
  return h("table", { class: "checks" },
    h("thead", {}, h("tr", {}, ["Check", "Holds", "Metric", "Candidate", "Compared with", "Basis"].map((t) => h("th", {}, t)))),
    h("tbody", {}, checks.map((c) => h("tr", { class: c.holds ? "ok" : "warn" },
      h("td", {}, c.check), h("td", {}, c.holds ? "yes" : "no"), h("td", {}, c.metric),
      h("td", { class: "num" }, number(c.candidate)),
      h("td", { class: "num" }, c.check === "beats_naive" ? `naive ${number(c.naive)}` : `v${c.current_version} ${number(c.current)}`),
      h("td", {}, c.basis)))));
}

// A page of the model's versions, newest first.
async function versions(name, shown = shownNow()) {
  current = name;
  const { offset, limit } = versionsPage;
  const page = await attempt(() => api(`/v1/models/${encodeURIComponent(name)}/versions?${query({ sort: "-version", limit, offset })}`));
  if (!stillShown(shown)) return;
  if (!page) {  // not another model's versions under this one's name
    fill($("#versions-table tbody"), []);
    options(form().elements.version, []);
    $("#versions-pager").replaceChildren();
    return;
  }
  fill($("#versions-table tbody"), page.items.map((v) => h("tr", { "data-version": v.version },
    h("td", {}, String(v.version)), h("td", {}, v.aliases.join(", ")),
    h("td", {}, v.spec.architecture || "–"),
    h("td", { class: "num" }, number(v.metrics.model.rmse)),
    h("td", { class: "num" }, number(v.metrics.naive.rmse)),
    h("td", { class: skillClass(v.metrics.skill) }, percent(v.metrics.skill)),
    h("td", {}, bestReference(v.metrics)),
    h("td", {}, v.created_at.slice(0, 16).replace("T", " ")),
    h("td", {}, h("a", { href: `#forecast?model=${encodeURIComponent(name)}&version=${v.version}` }, "Forecast")))));
  options(form().elements.version, page.items.map((v) => [v.version, `v${v.version}`]));
  const href = (to) => link("models", { model: name, collection: filter.collection, offset: to || "" });
  pager($("#versions-pager"), page, { href, label: "Version pages" });
}

const policyForm = () => $("#policy-form");
const when = (stamp) => (stamp ? stamp.slice(0, 16).replace("T", " ") : "–");

function fillPolicy(read) {
  const fields = policyForm().elements;
  const policy = read ? read.policy : null;
  const rule = policy && policy.retrain_when;
  fields.realized_skill_below.value = rule ? rule.realized_skill_below : "";
  fields.min_scored.value = rule ? rule.min_scored : "";
  fields.retrain_every_new_observations.value = policy?.retrain_every_new_observations ?? "";
  fields.promote_to.value = policy?.promote_to ?? "";
  fields.beats_naive.checked = policy ? policy.require.beats_naive : true;
  fields.beats_current.checked = policy ? policy.require.beats_current : true;
  fields.metric.value = policy ? policy.require.metric : "rmse";
  $("#policy-delete").hidden = !read;
  $("#policy-state").textContent = !read
    ? "No retrain policy: this model is trained again only when someone asks."
    : `Policy set ${when(read.updated_at)}; ` + (read.fired_at
      ? `last fired ${when(read.fired_at)} for v${read.fired_for_version} (job ${read.fired_job_id}).`
      : "it has not fired yet.");
}

async function loadPolicy(name) {
  showProblem($(".problem", policyForm()), null);
  try {
    fillPolicy(await api(`/v1/models/${encodeURIComponent(name)}/policy`));
  } catch (error) {
    if (!(error instanceof ApiProblem) || !String(error.problem.type || "").endsWith("policy-not-found")) throw error;
    fillPolicy(null);
  }
}

function policyBody() {
  const fields = policyForm().elements;
  const numberOrNull = (field) => (field.value.trim() === "" ? null : Number(field.value));
  const below = numberOrNull(fields.realized_skill_below);
  const retrainWhen = below === null ? null : { realized_skill_below: below };
  if (retrainWhen && numberOrNull(fields.min_scored) !== null) retrainWhen.min_scored = numberOrNull(fields.min_scored);
  return {
    retrain_when: retrainWhen,
    retrain_every_new_observations: numberOrNull(fields.retrain_every_new_observations),
    promote_to: fields.promote_to.value.trim() || null,
    require: { beats_naive: fields.beats_naive.checked, beats_current: fields.beats_current.checked, metric: fields.metric.value },
  };
}

export function initModels() {
  const policyPath = () => `/v1/models/${encodeURIComponent(current)}/policy`;
  policyForm().addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => fillPolicy(await api(policyPath(), { method: "PUT", json: policyBody() })),
      $(".problem", policyForm()));
  });
  $("#policy-delete").addEventListener("click", () => attempt(async () => {
    await api(policyPath(), { method: "DELETE" });
    fillPolicy(null);
  }, $(".problem", policyForm())));
  modelPicker = searchPicker($("#model-select"), $("#model-search"), $("#model-note"), {
    load: (prefix, limit) => api(`/v1/models?${query({ prefix, limit, collection: filter.collection })}`),
    option: (m) => [m.name, m.name],
    onpick: (model) => go("models", { model, collection: filter.collection }),
  });
  $("#model-pick").addEventListener("submit", (event) => {
    event.preventDefault();
    go("models", { model: $("#model-select").value, collection: filter.collection });
  });
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = form().elements;
    const problem = $(".problem", form());
    const result = $("#promote-result");
    result.hidden = true;
    const alias = fields.alias.value.trim();
    const body = {
      version: Number(fields.version.value),
      require: { beats_naive: fields.beats_naive.checked, beats_current: fields.beats_current.checked,
        metric: fields.metric.value },
    };
    attempt(async () => {
      try {
        const moved = await api(
          `/v1/models/${encodeURIComponent(current)}/aliases/${encodeURIComponent(alias)}/promote`,
          { method: "POST", json: body });
        const was = moved.previous_version === null ? "unset" : `v${moved.previous_version}`;
        result.replaceChildren(
          h("p", {}, h("strong", {}, `${moved.alias} → v${moved.version}`), ` (was ${was}).`),
          moved.checks.length ? checksTable(moved.checks) : h("p", { class: "muted" }, "No checks asked for."));
        result.hidden = false;
      } catch (error) {
        if (!(error instanceof ApiProblem) || !error.problem.checks) throw error;
        // Refused by the gate: its explanation, then the numbers behind it.
        showProblem(problem, error.problem);
        problem.append(checksTable(error.problem.checks));
      } finally {
        await versions(current);
      }
    }, problem);
  });
}

// #models[?model=M][&collection=C][&offset=N]: the picker lists C's models (all without),
// searched on the server; M's versions paged, its promotion and its retrain policy.
export async function showModels(params) {
  filter = { collection: params.get("collection") || "" };
  versionsPage = pageParams(params, 25);
  const shown = shownNow();
  const model = params.get("model");
  const ready = await attempt(async () => {
    await modelPicker(model);
    return true;
  });
  if (!ready || !stillShown(shown)) return;
  const name = $("#model-select").value;
  policyForm().hidden = !name;
  showProblem($(".problem", form()), null);
  if (!name) {
    fill($("#versions-table tbody"), []);
    return;
  }
  await versions(name, shown);
  if (stillShown(shown)) await attempt(() => loadPolicy(name));
}
