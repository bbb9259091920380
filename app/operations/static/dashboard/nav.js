// Every view's state lives in the URL fragment (#view?name=value…): a link opens a view with
// its data, and back/forward walk through what was shown. Views change what they show by
// going to a new URL, never by drawing directly, so the URL is always the whole state.

import { query } from "./api.js";

export const link = (view, params = {}) => {
  const search = query(params);
  return `#${view}${search ? `?${search}` : ""}`;
};

// Goes to a view; going to the URL already shown draws it again (a form sent twice).
export function go(view, params = {}) {
  const hash = link(view, params);
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// The current view's parameters as a plain object, to change one and go there.
export function current() {
  const [name, search] = location.hash.slice(1).split("?");
  return { view: name, params: Object.fromEntries(new URLSearchParams(search || "")) };
}

// Same view, some parameters changed (undefined or "" removes one).
export function update(changes) {
  const { view, params } = current();
  go(view, { ...params, ...changes });
}

// Each time a URL is shown it gets a new number; a view that awaited the service checks that
// its number is still the current one before it draws, so a slow answer to an earlier URL never
// paints over (or resets the form of) the one shown now.
let shownNumber = 0;
export const nextShown = () => ++shownNumber;
export const shownNow = () => shownNumber;
export const stillShown = (number) => number === shownNumber;
