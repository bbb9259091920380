// Runs one dashboard action against the service. A refusal (problem document) is shown next
// to the form that caused it; a lost connection raises a banner whose Retry repeats the action.

import { ApiProblem, ConnectionLost } from "./api.js";
import { $, describeError, showProblem } from "./dom.js";

let retry = null;
let lostConnection = false;

function banner(text, action, connection = false) {
  retry = action;
  lostConnection = connection;
  $("#connection-text").textContent = text;
  $("#retry").hidden = action === null;
  $("#connection").hidden = false;
}

export function clearBanner() {
  retry = null;
  lostConnection = false;
  $("#connection").hidden = true;
}

export function installRetry() {
  $("#retry").addEventListener("click", () => {
    const action = retry;
    clearBanner();
    if (action) action();
  });
}

// The submit buttons of the form a problem box is in, disabled until the action is over: a
// double click starts one job, not two. Returns what re-enables them.
function holdForm(problemBox) {
  const form = problemBox?.closest("form");
  if (!form) return () => {};
  const buttons = [...form.querySelectorAll("button:not([type=button])")].filter((b) => !b.disabled);
  for (const button of buttons) button.disabled = true;
  form.setAttribute("aria-busy", "true");
  return () => {
    for (const button of buttons) button.disabled = false;
    form.removeAttribute("aria-busy");
  };
}

// problemBox: where a problem document goes; without one it goes to the banner.
export async function attempt(action, problemBox = null) {
  if (problemBox) showProblem(problemBox, null);
  const release = holdForm(problemBox);
  try {
    const result = await action();
    // Answered: a lost connection is back. A problem another step met stays shown until the
    // URL changes (a view's next request succeeding does not make that one right).
    if (lostConnection) clearBanner();
    return result;
  } catch (error) {
    if (error instanceof ConnectionLost) {
      banner(`The service cannot be reached (${error.message}).`, () => attempt(action, problemBox), true);
      return undefined;
    }
    if (error instanceof ApiProblem) {
      if (problemBox) showProblem(problemBox, error.problem);
      else {
        const { title, detail, status, errors = [] } = error.problem;
        const hint = status === 401 ? " Type the API key above, then retry." : "";
        const listed = errors.slice(0, 5).map((e) => describeError(e).filter(Boolean).join(": "));
        const more = errors.length > 5 ? ` … (${errors.length} in all)` : "";
        const what = listed.length ? ` (${listed.join("; ")}${more})` : "";
        banner(`${title} (${status}): ${detail || ""}${what}${hint}`, () => attempt(action, problemBox));
      }
      return undefined;
    }
    throw error;
  } finally {
    release();
  }
}
