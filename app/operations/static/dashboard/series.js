// Series: upload (drag and drop or file picker) with the quality summary, and the list, all
// series or one collection's, paged and searched by prefix on the server.

import { api, query } from "./api.js";
import { attempt } from "./attempt.js";
import { $, fill, h } from "./dom.js";
import { go, link, shownNow, stillShown } from "./nav.js";
import { pageParams, pager } from "./pager.js";

const form = () => $("#upload-form");

export function qualityNotes(quality) {
  const notes = [];
  const sum = (counts) => Object.values(counts || {}).reduce((a, b) => a + b, 0);
  if (quality.duplicate_rows) notes.push(`${quality.duplicate_rows} duplicate rows dropped`);
  if (sum(quality.empty_cells)) notes.push(`${sum(quality.empty_cells)} empty cells`);
  if (quality.filled_cells) notes.push(`${quality.filled_cells} cells filled`);
  if (sum(quality.non_positive_prices)) notes.push(`${sum(quality.non_positive_prices)} prices ≤ 0`);
  if (quality.unsorted_input) notes.push("rows were not in date order (sorted)");
  if (quality.ignored_columns.length) notes.push(`ignored: ${quality.ignored_columns.join(", ")}`);
  if (quality.gaps.missing_periods) notes.push(`${quality.gaps.missing_periods} missing periods (${quality.gaps.calendar})`);
  if (quality.gaps.off_calendar) notes.push(`${quality.gaps.off_calendar} dates off the ${quality.gaps.calendar} calendar`);
  return notes;
}

function uploaded(series) {
  const notes = qualityNotes(series.quality);
  const box = $("#upload-result");
  box.replaceChildren(
    h("p", {}, h("strong", {}, `Stored ${series.name}`), ` (id ${series.id}): ${series.row_count} rows, `,
      `${series.first_date} → ${series.last_date}, frequency ${series.frequency}, `,
      `fields ${series.fields.join(", ")}.`),
    h("p", { class: "quality" }, `Quality: ${notes.length ? notes.join("; ") : "no issues found"}.`),
  );
  box.hidden = false;
}

function chooseFile(file) {
  $("#drop-text").textContent = file ? `${file.name} (${Math.ceil(file.size / 1024)} KiB)` : "Drop a CSV file here, or choose one";
  const name = form().elements.name;
  if (file && !name.value) name.value = file.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
}

export function initSeries() {
  const zone = $("#drop-zone");
  const input = $("#upload-file");
  input.addEventListener("change", () => chooseFile(input.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    chooseFile(input.files[0]);
  });
  $("#series-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = event.target.elements;
    go("series", { collection: fields.collection.value.trim(), prefix: fields.prefix.value.trim() });
  });
  form().addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new FormData(form());
    for (const option of ["exchange", "date_order"]) if (!body.get(option)) body.delete(option);
    $("#upload-result").hidden = true;
    attempt(async () => {
      uploaded(await api("/v1/series", { method: "POST", form: body }));
      await showSeries(new URLSearchParams(location.hash.split("?")[1] || ""));
    }, $(".problem", form()));
  });
}

// Suggestions for the collection box (its first page; any name can be typed).
async function suggestCollections() {
  const page = await api("/v1/collections?limit=50");
  fill($("#collection-names"), page.items.map((c) => h("option", { value: c.name }, `${c.series_count} series`)));
}

// #series[?collection=C][&prefix=P][&offset=N]: all series or a collection's, paged and
// searched on the server.
export async function showSeries(params) {
  const collection = params.get("collection") || "";
  const prefix = params.get("prefix") || "";
  const { offset, limit } = pageParams(params);
  const search = $("#series-search");
  search.elements.collection.value = collection;
  search.elements.prefix.value = prefix;
  const shown = shownNow();
  const page = await attempt(async () => {
    const [answer] = await Promise.all([
      api(`/v1/series?${query({ collection, prefix, limit, offset })}`), suggestCollections(),
    ]);
    return answer;
  });
  if (!page || !stillShown(shown)) return;
  fill($("#series-table tbody"), page.items.map((s) => {
    const notes = qualityNotes(s.quality);
    return h("tr", {},
      h("td", {}, String(s.id)), h("td", {}, s.name), h("td", {}, s.frequency),
      h("td", { class: "num" }, String(s.row_count)), h("td", {}, s.first_date), h("td", {}, s.last_date),
      h("td", {}, s.fields.join(", ")),
      h("td", { class: notes.length ? "warn" : "ok" }, notes.length ? notes.join("; ") : "clean"),
      h("td", {}, h("a", { href: link("jobs", { series: s.id }) }, "Train")));
  }));
  pager($("#series-pager"), page, { href: (to) => link("series", { collection, prefix, offset: to || "" }), label: "Series pages" });
}
