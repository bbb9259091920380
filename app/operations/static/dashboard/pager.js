// Paging controls for a list the service pages ({items, total, limit, offset}): First,
// Previous, "51–100 of 2000", Next, Last. For a server list each is a link to the view's URL
// with another offset (so back/forward page too); for a list already in the page (an upload's
// per-symbol result) a button that calls turn(offset).

import { h } from "./dom.js";

export function pager(box, { total, limit, offset }, { href, turn, label = "Pages" }) {
  const last = Math.max(0, Math.floor((total - 1) / limit) * limit);
  const control = (text, to, enabled) => {
    if (!enabled) return h("span", { class: "page-off", "aria-disabled": "true" }, text);
    return href
      ? h("a", { href: href(to), class: "page-link" }, text)
      : h("button", { type: "button", class: "page-link", onclick: () => turn(to) }, text);
  };
  const shown = total === 0 ? "none" : `${offset + 1}–${Math.min(offset + limit, total)} of ${total}`;
  box.replaceChildren(h("nav", { class: "pager", "aria-label": label },
    control("« First", 0, offset > 0),
    control("‹ Previous", Math.max(0, offset - limit), offset > 0),
    h("span", { class: "page-at", role: "status" }, shown),
    control("Next ›", offset + limit, offset + limit < total),
    control("Last »", last, offset < last)));
  box.hidden = total <= limit && offset === 0;
}

// A page's offset and limit from the URL, kept within what the API accepts.
export function pageParams(params, limit = 50) {
  const offset = Math.max(0, Number.parseInt(params.get("offset") || "0", 10) || 0);
  const size = Math.min(500, Math.max(1, Number.parseInt(params.get("limit") || String(limit), 10) || limit));
  return { offset, limit: size };
}
