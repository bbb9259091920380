// Small DOM helpers: elements are built with text nodes, never from HTML strings, so nothing
// a client uploaded (a name, an error message) can become markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return element;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

export function options(select, items, selected) {
  const keep = selected ?? select.value;
  select.replaceChildren(
    ...items.map(([value, label]) => h("option", { value, selected: String(value) === String(keep) }, label)),
  );
}

export const number = (value, digits = 4) =>
  value === null || value === undefined ? "–" : Number(value).toPrecision(digits);

export const percent = (value) =>
  value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)} %`;

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 90) return `${Math.round(value)} s`;
  return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

// Shows a problem document next to the form that caused it: title, detail, row errors and
// field errors as the service sent them.
export function showProblem(box, problem) {
  if (!problem) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const items = (problem.errors || []).map((e) => {
    const where = [
      e.symbol ? `symbol ${e.symbol}` : null,
      e.row !== undefined && e.row !== null ? `row ${e.row}` : null,
      e.column ? `column ${e.column}` : null,
      e.loc ? [].concat(e.loc).join(".") : null,
    ].filter(Boolean).join(", ");
    return h("li", {}, where ? `${where}: ` : "", e.message || e.msg || JSON.stringify(e));
  });
  const parts = [
    h("strong", { class: "problem-title" }, `${problem.title || "Error"} (${problem.status ?? "?"})`),
    problem.detail ? h("p", { class: "problem-detail" }, problem.detail) : null,
    items.length ? h("ul", { class: "problem-errors" }, items) : null,
  ];
  box.replaceChildren(...parts.filter((p) => p !== null));
  box.hidden = false;
}
