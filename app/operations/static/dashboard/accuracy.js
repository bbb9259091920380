// Accuracy overview: the whole book from one list the service ranks and pages
// (GET /v1/accuracy): for each alias of each model, the version it serves and what the ledger
// measured on the forecasts it served: one-step points scored, realized RMSE next to naive's on
// the same dates (skill), realized RMSE ÷ the RMSE its holdout promised, interval coverage next
// to nominal. By default the ones losing to naive come first across the whole book, not within
// a page; the column headings sort it (on the service) by the columns it can sort by. Each row
// links to its model and to that alias's forecast view (the ledger per step, the report).

import { api, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h, number, percent, skillClass } from "./dom.js";
import { current, go, link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";

const PAGE = 25;
const DEFAULT_SORT = "skill";
const SORTS = ["skill", "-skill", "model", "-model", "scored", "-scored", "realized_to_promised", "-realized_to_promised"];

// [sort key or null, heading, the order a first click asks for]
const COLUMNS = [
  ["model", "Model", "model"], [null, "Alias (version)"], ["scored", "Scored", "-scored"],
  [null, "RMSE"], [null, "Naive RMSE"], ["skill", "Skill vs naive", "skill"],
  ["realized_to_promised", "Realized ÷ promised", "-realized_to_promised"], [null, "Coverage"], [null, ""],
];

function coverageCell(r) {
  const shares = Object.entries(r.coverage || {}).filter(([, share]) => share !== null);
  if (!shares.length) return h("td", {}, "–");
  return h("td", { class: "num" }, shares.map(([level, share]) => {
    const low = share < Number(level) / 100 - 0.1;
    const points = r.coverage_points?.[level];
    return h("span", { class: low ? "warn" : "", title: points ? `over ${points} points` : "" },
      `${level} %: ${percent(share)} `);
  }));
}

function row(r) {
  const skill = r.skill_vs_naive;
  const losing = skillClass(skill) === "num warn";
  return h("tr", { "data-model": r.model, "data-alias": r.alias, class: losing ? "losing" : "" },
    h("td", {}, h("a", { href: link("models", { model: r.model }) }, r.model)),
    h("td", {}, `${r.alias} (v${r.version})`),
    h("td", { class: "num" }, String(r.scored)),
    h("td", { class: "num" }, number(r.rmse)), h("td", { class: "num" }, number(r.naive_rmse)),
    h("td", { class: skillClass(skill) },
      losing ? `${percent(skill)} (loses to naive)` : percent(skill)),
    h("td", { class: r.realized_to_promised > 1.5 ? "num warn" : "num" }, number(r.realized_to_promised, 3)),
    coverageCell(r),
    h("td", {}, h("a", { href: link("forecast", { model: r.model, alias: r.alias }) }, "Detail")));
}

// The headings: each sortable one links to the list sorted by it (again: the other way), from
// its first page, keeping the search.
function heading(sort, kept) {
  return h("tr", {}, COLUMNS.map(([key, title, first]) => {
    if (!key) return h("th", {}, title);
    const on = sort.replace(/^-/, "") === key;
    const next = on ? (sort.startsWith("-") ? key : `-${key}`) : first;
    const state = on ? (sort.startsWith("-") ? "descending" : "ascending") : "none";
    const to = link("accuracy", { ...kept, sort: next === DEFAULT_SORT ? "" : next });
    return h("th", { "aria-sort": state },
      h("a", { href: to, class: "sort", "data-key": key }, title, on ? (sort.startsWith("-") ? " ▼" : " ▲") : ""));
  }));
}

// #accuracy[?prefix=P][&collection=C][&sort=S][&offset=N][&limit=N]
export async function showAccuracy(params) {
  const prefix = params.get("prefix") || "";
  const collection = params.get("collection") || "";
  const sort = SORTS.includes(params.get("sort")) ? params.get("sort") : DEFAULT_SORT;
  const { offset, limit } = pageParams(params, PAGE);
  const search = $("#accuracy-search");
  search.elements.prefix.value = prefix;
  search.elements.collection.value = collection;
  const kept = { prefix, collection, limit: limit === PAGE ? "" : limit };
  $("#accuracy-table thead").replaceChildren(heading(sort, kept));
  const shown = shownNow();
  $("#accuracy-view").setAttribute("aria-busy", "true");
  const page = await attempt(() => api(`/v1/accuracy?${query({ prefix, collection, sort, limit, offset })}`));
  if (!stillShown(shown)) return;
  $("#accuracy-view").removeAttribute("aria-busy");
  if (!page) return;
  fill($("#accuracy-table tbody"), page.items.map(row));
  const losing = page.items.filter((r) => r.skill_vs_naive !== null && r.skill_vs_naive < 0).length;
  const unscored = page.items.filter((r) => r.scored === 0).length;
  $("#accuracy-summary").textContent = page.total === 0 ? "" :
    `${page.total} served aliases${prefix || collection ? " matching" : ""}; on this page: ` +
    `${losing} losing to naive, ${unscored} not scored yet.`;
  $("#accuracy-none").hidden = page.total > 0;
  const href = (to) => link("accuracy", { ...kept, sort: sort === DEFAULT_SORT ? "" : sort, offset: to || "" });
  pager($("#accuracy-pager"), page, { href, label: "Accuracy pages" });
}

export function initAccuracy() {
  $("#accuracy-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = event.target.elements;
    const { sort = "", limit = "" } = current().params;  // a new search keeps the order, from its first page
    go("accuracy", { prefix: fields.prefix.value.trim(), collection: fields.collection.value.trim(), sort, limit });
  });
}
