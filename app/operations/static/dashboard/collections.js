// Collections: the list (paged on the server), one collection's members (paged, searched by
// symbol prefix and sorted on the server) with each member's data quality, and the
// long-format upload (one row per symbol and date) with what it did to each symbol.

import { api, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h } from "./dom.js";
import { go, link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";
import { qualityNotes } from "./series.js";

const RESULT_PAGE = 100;

const when = (stamp) => (stamp ? stamp.slice(0, 16).replace("T", " ") : "–");

function qualityCell(series) {
  const notes = qualityNotes(series.quality);
  return h("td", { class: notes.length ? "warn" : "ok" }, notes.length ? notes.join("; ") : "clean");
}

// The upload's answer: totals, then one row per symbol (paged here: it can hold 2,000).
function uploaded(box, result, offset = 0) {
  const rows = result.members.slice(offset, offset + RESULT_PAGE).map((m) => h("tr", { "data-symbol": m.symbol },
    h("td", {}, h("a", { href: link("collection", { name: result.collection, prefix: m.symbol }) }, m.symbol)),
    h("td", {}, m.action), h("td", { class: "num" }, String(m.inserted)),
    h("td", { class: "num" }, String(m.replaced)), h("td", { class: "num" }, String(m.unchanged)),
    h("td", { class: "num" }, String(m.series.row_count)), h("td", {}, m.series.last_date),
    qualityCell(m.series)));
  const pages = h("div", { class: "pager-box" });
  box.replaceChildren(
    h("p", {}, h("strong", {}, `Uploaded to ${result.collection}`),
      `: ${result.created} series created, ${result.appended} appended; the collection holds ${result.series_count}.`),
    h("div", { class: "scroll" }, h("table", { class: "upload-members" },
      h("thead", {}, h("tr", {}, ["Symbol", "Action", "Dates added", "Replaced", "Unchanged", "Rows", "Last", "Quality"]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, rows))),
    pages);
  pager(pages, { total: result.members.length, limit: RESULT_PAGE, offset },
    { turn: (to) => uploaded(box, result, to), label: "Upload result pages" });
  box.hidden = false;
}

function installUpload(form, after) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new FormData(form);
    const name = String(body.get("collection") || "").trim();
    const onConflict = body.get("on_conflict");
    for (const field of ["collection", "on_conflict"]) body.delete(field);
    for (const option of ["exchange", "date_order"]) if (!body.get(option)) body.delete(option);
    const box = $(".result", form);
    box.hidden = true;
    attempt(async () => {
      const result = await api(`/v1/collections/${encodeURIComponent(name)}/series?${query({ on_conflict: onConflict })}`,
        { method: "POST", form: body });
      uploaded(box, result);
      await after(result);
    }, $(".problem", form));
  });
}

// #collections[?offset=N]
export async function showCollections(params) {
  const { offset, limit } = pageParams(params);
  const shown = shownNow();
  const page = await attempt(() => api(`/v1/collections?${query({ limit, offset })}`));
  if (!page || !stillShown(shown)) return;
  fill($("#collections-table tbody"), page.items.map((c) => h("tr", { "data-collection": c.name },
    h("td", {}, h("a", { href: link("collection", { name: c.name }) }, c.name)),
    h("td", { class: "num" }, String(c.series_count)), h("td", {}, when(c.created_at)), h("td", {}, when(c.updated_at)))));
  $("#collections-none").hidden = page.total > 0;
  pager($("#collections-pager"), page, { href: (to) => link("collections", { offset: to || "" }), label: "Collection pages" });
}

// #collection?name=C[&prefix=P][&sort=S][&offset=N]
export async function showCollection(params) {
  const name = params.get("name") || "";
  const prefix = params.get("prefix") || "";
  const sort = params.get("sort") || "symbol";
  const { offset, limit } = pageParams(params);
  const search = $("#member-search");
  search.elements.prefix.value = prefix;
  search.elements.sort.value = sort;
  $("#collection-upload").elements.collection.value = name;
  $("#collection-title").textContent = `Collection ${name}`;
  const path = `/v1/collections/${encodeURIComponent(name)}`;
  const shown = shownNow();
  const [collection, page] = await attempt(() => Promise.all([
    api(path), api(`${path}/series?${query({ prefix, sort, limit, offset })}`),
  ])) || [];
  if (!stillShown(shown)) return;
  if (!page) {  // not another collection's members under this one's title
    $("#collection-summary").textContent = "";
    $("#collection-links").replaceChildren(h("a", { href: link("collections") }, "All collections"));
    fill($("#members-table tbody"), []);
    $("#members-pager").replaceChildren();
    return;
  }
  $("#collection-summary").textContent = `${collection.series_count} series; updated ${when(collection.updated_at)}. ` +
    (prefix ? `${page.total} match “${prefix}”.` : "");
  $("#collection-links").replaceChildren(
    h("a", { href: link("batches", { collection: name }) }, "Train this collection"), " · ",
    h("a", { href: link("models", { collection: name }) }, "Its models"), " · ",
    h("a", { href: link("accuracy", { collection: name }) }, "Their accuracy"), " · ",
    h("a", { href: link("collections") }, "All collections"));
  fill($("#members-table tbody"), page.items.map((s) => h("tr", { "data-series": s.id },
    h("td", {}, s.symbol || s.name), h("td", { class: "num" }, String(s.id)), h("td", {}, s.frequency),
    h("td", { class: "num" }, String(s.row_count)), h("td", {}, s.first_date), h("td", {}, s.last_date),
    h("td", {}, s.fields.join(", ")), qualityCell(s),
    h("td", {}, h("a", { href: link("jobs", { series: s.id }) }, "Train")))));
  $("#members-none").hidden = page.total > 0;
  const href = (to) => link("collection", { name, prefix, sort: sort === "symbol" ? "" : sort, offset: to || "" });
  pager($("#members-pager"), page, { href, label: "Member pages" });
}

export function initCollections() {
  installUpload($("#collection-upload-new"), () => showCollections(new URLSearchParams(location.hash.split("?")[1] || "")));
  installUpload($("#collection-upload"), () => showCollection(new URLSearchParams(location.hash.split("?")[1] || "")));
  $("#member-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = event.target.elements;
    const name = $("#collection-upload").elements.collection.value;
    const sort = fields.sort.value === "symbol" ? "" : fields.sort.value;
    go("collection", { name, prefix: fields.prefix.value.trim(), sort });
  });
  $("#member-search").elements.sort.addEventListener("change", () => $("#member-search").requestSubmit());
}
