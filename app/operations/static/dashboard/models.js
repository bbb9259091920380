// Models: versions with their holdout numbers next to naive and the references, and the
// gated promotion with the gate's answer (the checks) shown whether it moved the alias or not.

import { api, ApiProblem } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, options, percent, showProblem } from "./dom.js";
import { go } from "./nav.js";

const form = () => $("#promote-form");
let current = null;

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

async function versions(name) {
  current = name;
  const page = await attempt(() => api(`/v1/models/${encodeURIComponent(name)}/versions?sort=-version&limit=500`));
  if (!page) return;
  fill($("#versions-table tbody"), page.items.map((v) => h("tr", { "data-version": v.version },
    h("td", {}, String(v.version)), h("td", {}, v.aliases.join(", ")),
    h("td", {}, v.spec.architecture || "–"),
    h("td", { class: "num" }, number(v.metrics.model.rmse)),
    h("td", { class: "num" }, number(v.metrics.naive.rmse)),
    h("td", { class: v.metrics.skill > 0 ? "num ok" : "num warn" }, percent(v.metrics.skill)),
    h("td", {}, bestReference(v.metrics)),
    h("td", {}, v.created_at.slice(0, 16).replace("T", " ")),
    h("td", {}, h("a", { href: `#forecast?model=${encodeURIComponent(name)}&version=${v.version}` }, "Forecast")))));
  options(form().elements.version, [...page.items].reverse().map((v) => [v.version, `v${v.version}`]));
}

export function initModels() {
  $("#model-select").addEventListener("change", (e) => go("models", { model: e.target.value }));
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = form().elements;
    const problem = $(".problem", form());
    const result = $("#promote-result");
    result.hidden = true;
    const alias = fields.alias.value.trim();
    const body = {
      version: Number(fields.version.value),
      require: { beats_naive: fields.beats_naive.checked, beats_current: fields.beats_current.checked },
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

export async function showModels(params) {
  const page = await attempt(() => api("/v1/models?limit=500"));
  if (!page) return;
  const names = page.items.map((m) => m.name);
  const model = params.get("model");
  if (model && !names.includes(model)) names.unshift(model);
  options($("#model-select"), names.map((n) => [n, n]), model);
  if (names.length) await versions($("#model-select").value);
  else fill($("#versions-table tbody"), []);
  showProblem($(".problem", form()), null);
}
