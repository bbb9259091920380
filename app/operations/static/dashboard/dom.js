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

// A share in percent at the one decimal shown (0, never -0.0, for -6e-9).
const inPercent = (value) => Math.round(1000 * value) / 10 || 0;

export const percent = (value) =>
  value === null || value === undefined ? "–" : `${inPercent(value).toFixed(1)} %`;

// A skill against naive as it is shown: ahead (ok), behind (warn) or level with naive.
export function skillClass(skill) {
  if (skill === null || skill === undefined || inPercent(skill) === 0) return "num";
  return inPercent(skill) > 0 ? "num ok" : "num warn";
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 90) return `${Math.round(value)} s`;
  return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
}

// The form field a problem's `loc` names ("body.epochs", "query.horizon", "horizon"): the
// field of that name, else the form's JSON spec box (fields sent inside the spec), else none.
const LOCATION_PREFIXES = new Set(["body", "query", "path", "header"]);
function fieldFor(form, loc) {
  if (!form || loc === undefined || loc === null) return null;
  // The innermost part that names a field: body.retrain_when.realized_skill_below, body.series_ids.3.
  const parts = String(loc).split(".").filter((part) => !LOCATION_PREFIXES.has(part));
  for (const name of parts.reverse()) {
    const named = form.elements.namedItem(name);
    const field = named instanceof RadioNodeList ? named[0] : named;
    if (field) return field;
  }
  return parts.length ? form.querySelector("[data-spec]") : null;
}

let fieldProblems = 0;

function clearFieldProblems(form) {
  if (!form) return;
  for (const note of form.querySelectorAll(".field-problem")) note.remove();
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
  }
}

// The form a problem box belongs to: the one around it, or the one its data-form names.
const formOf = (box) => box.closest("form") || (box.dataset.form ? document.getElementById(box.dataset.form) : null);

// Shows a problem document next to the form that caused it: title, detail, row errors and
// field errors as the service sent them; an error that names a field of the form is also
// written under that field (aria-invalid, aria-describedby). The box is a role="alert"
// region, so screen readers announce it when it appears.
// One item of a problem's `errors`: where it is (symbol, row, column or field), what is wrong.
export function describeError(e) {
  const where = [
    e.symbol ? `symbol ${e.symbol}` : null,
    e.row !== undefined && e.row !== null ? `row ${e.row}` : null,
    e.column ? `column ${e.column}` : null,
    e.loc ? [].concat(e.loc).join(".") : null,
  ].filter(Boolean).join(", ");
  return [where, e.message || e.msg || JSON.stringify(e)];
}

export function showProblem(box, problem) {
  const form = formOf(box);
  clearFieldProblems(form);
  if (!problem) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.setAttribute("role", "alert");
  const items = (problem.errors || []).map((e) => {
    const [where, message] = describeError(e);
    const field = fieldFor(form, e.loc);
    if (field) {
      fieldProblems += 1;
      const id = `field-problem-${fieldProblems}`;
      const existing = field.getAttribute("aria-describedby");
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", existing ? `${existing} ${id}` : id);
      const text = field.hasAttribute("data-spec") ? `${where}: ${message}` : message;
      field.after(h("span", { class: "field-problem", id }, text));
    }
    return h("li", {}, where ? `${where}: ` : "", message);
  });
  const parts = [
    h("strong", { class: "problem-title" }, `${problem.title || "Error"} (${problem.status ?? "?"})`),
    problem.detail ? h("p", { class: "problem-detail" }, problem.detail) : null,
    items.length ? h("ul", { class: "problem-errors" }, items) : null,
  ];
  box.replaceChildren(...parts.filter((p) => p !== null));
  box.hidden = false;
}

// A form's JSON spec field as an object (empty: {}); null, with the problem shown in `box`,
// when it is not a JSON object (nothing is sent then).
export function specOf(field, box) {
  try {
    const spec = field.value.trim() ? JSON.parse(field.value) : {};
    if (typeof spec !== "object" || Array.isArray(spec) || spec === null) throw new Error("not an object");
    return spec;
  } catch (error) {
    showProblem(box, { title: "Spec is not a JSON object", status: "not sent", detail: error.message });
    return null;
  }
}
