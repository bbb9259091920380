// A picker for lists too long to send whole (2,000 series, thousands of models): a <select>
// holding the first page of what the service answers, and a search box next to it whose text
// is sent as the list's `prefix` (debounced), so any item is two keystrokes away.

import { h } from "./dom.js";

const SHOWN = 50;
const WAIT_MS = 250;

// select: the <select>; search: its <input type="search">; note: where "50 of 2000" goes.
// load(prefix, limit) → a page; option(item) → [value, label]; onpick(value): the user picked
// one (followSearch: a search that changed the picked item counts as picking it).
export function searchPicker(select, search, note, { load, option, onpick = null, followSearch = false }) {
  let timer = null;
  let extra = null;  // an item that must stay listed (the one the URL names)
  let asked = 0;

  async function fill(prefix, selected) {
    const number = ++asked;
    const page = await load(prefix, SHOWN);
    if (number !== asked) return;  // a later keystroke's answer is coming
    const items = page.items.map(option);
    if (extra && !prefix && !items.some(([v]) => String(v) === String(extra[0]))) items.unshift(extra);
    const keep = selected ?? select.value;
    select.replaceChildren(...items.map(([value, label]) =>
      h("option", { value, selected: String(value) === String(keep) }, label)));
    note.textContent = page.total > page.items.length
      ? `first ${page.items.length} of ${page.total}${prefix ? " matching" : ""}: type to search`
      : `${page.total}${prefix ? " matching" : ""}`;
  }

  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const before = select.value;
      await fill(search.value.trim(), undefined);
      if (onpick && followSearch && select.value !== before && select.value) onpick(select.value);
    }, WAIT_MS);
  });
  if (onpick) select.addEventListener("change", () => onpick(select.value));

  // Lists the first page (no search), keeping `selected` (with its label) listed and picked.
  return async function reset(selected = null, label = null) {
    search.value = "";
    extra = selected === null || selected === undefined || selected === "" ? null : [selected, label ?? selected];
    await fill("", selected ?? undefined);
  };
}
