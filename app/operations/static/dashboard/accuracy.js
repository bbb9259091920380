// Accuracy overview: for each model of a page (paged and searched on the server) and each of
// its aliases (or its latest version when it has none), what the ledger measured on the
// forecasts it served: realized skill against naive on the same dates, realized RMSE ÷ the
// RMSE its holdout promised, interval coverage next to nominal. The ones losing to naive come
// first; each row links to that version's forecast view (the ledger per step, the report).

import { api, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, percent } from "./dom.js";
import { go, link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";

const PARALLEL = 6;

// Runs tasks a few at a time (a page of models is one request per model and alias).
async function limited(tasks) {
  const results = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, tasks.length) }, worker));
  return results;
}

// What each model serves: its aliases, else its latest version.
function targets(models) {
  return models.flatMap((m) => {
    const aliases = Object.entries(m.aliases);
    if (aliases.length) return aliases.map(([alias, version]) => ({ model: m.name, alias, version }));
    return m.latest_version ? [{ model: m.name, alias: null, version: m.latest_version }] : [];
  });
}

// Losing to naive first (worst first), then the rest by skill, then the unscored.
function rank(a, b) {
  const [x, y] = [a.total.skill_vs_naive, b.total.skill_vs_naive];
  if (x === null && y === null) return a.model.localeCompare(b.model);
  if (x === null) return 1;
  if (y === null) return -1;
  return x - y;
}

function coverageCell(total) {
  const shares = Object.entries(total.coverage || {}).filter(([, share]) => share !== null);
  if (!shares.length) return h("td", {}, "–");
  return h("td", { class: "num" }, shares.map(([level, share]) => {
    const low = share < Number(level) / 100 - 0.1;
    return h("span", { class: low ? "warn" : "" }, `${level} %: ${percent(share)} `);
  }));
}

function row(r) {
  const t = r.total;
  const losing = t.skill_vs_naive !== null && t.skill_vs_naive < 0;
  const which = r.alias ? { alias: r.alias } : { version: r.version };
  return h("tr", { "data-model": r.model, "data-alias": r.alias || "", class: losing ? "losing" : "" },
    h("td", {}, h("a", { href: link("models", { model: r.model }) }, r.model)),
    h("td", {}, r.alias ? `${r.alias} (v${r.version})` : `latest (v${r.version})`),
    h("td", { class: "num" }, String(t.scored)), h("td", { class: "num" }, String(t.pending)),
    h("td", { class: losing ? "num warn" : t.skill_vs_naive > 0 ? "num ok" : "num" },
      losing ? `${percent(t.skill_vs_naive)} (loses to naive)` : percent(t.skill_vs_naive)),
    h("td", { class: t.realized_to_promised > 1.5 ? "num warn" : "num" }, number(t.realized_to_promised, 3)),
    coverageCell(t),
    h("td", {}, h("a", { href: link("forecast", { model: r.model, ...which }) }, "Detail")));
}

// #accuracy[?prefix=P][&collection=C][&offset=N]
export async function showAccuracy(params) {
  const prefix = params.get("prefix") || "";
  const collection = params.get("collection") || "";
  const { offset, limit } = pageParams(params, 25);
  const search = $("#accuracy-search");
  search.elements.prefix.value = prefix;
  search.elements.collection.value = collection;
  const shown = shownNow();
  const page = await attempt(() => api(`/v1/models?${query({ prefix, collection, limit, offset })}`));
  if (!page || !stillShown(shown)) return;
  $("#accuracy-view").setAttribute("aria-busy", "true");
  const rows = await attempt(() => limited(targets(page.items).map((t) => async () => {
    const scope = t.alias ? { alias: t.alias } : { version: t.version };
    const report = await api(`/v1/models/${encodeURIComponent(t.model)}/accuracy?${query(scope)}`);
    return { ...t, total: report.total };
  })));
  if (!rows || !stillShown(shown)) return;
  rows.sort(rank);
  fill($("#accuracy-table tbody"), rows.map(row));
  const losing = rows.filter((r) => r.total.skill_vs_naive !== null && r.total.skill_vs_naive < 0).length;
  $("#accuracy-summary").textContent = `${page.items.length} of ${page.total} models on this page, ` +
    `${rows.length} served versions: ${losing} losing to naive, ` +
    `${rows.filter((r) => r.total.scored === 0).length} not scored yet.`;
  $("#accuracy-none").hidden = rows.length > 0;
  const href = (to) => link("accuracy", { prefix, collection, offset: to || "" });
  pager($("#accuracy-pager"), page, { href, label: "Model pages" });
  $("#accuracy-view").removeAttribute("aria-busy");
}

export function initAccuracy() {
  $("#accuracy-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = event.target.elements;
    go("accuracy", { prefix: fields.prefix.value.trim(), collection: fields.collection.value.trim() });
  });
}
