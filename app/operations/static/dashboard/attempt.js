// Runs one dashboard action against the service. A refusal (problem document) is shown next
// to the form that caused it; a lost connection raises a banner whose Retry repeats the action.

import { ApiProblem, ConnectionLost } from "./api.js";
import { $, showProblem } from "./dom.js";

let retry = null;

function banner(text, action) {
  retry = action;
  $("#connection-text").textContent = text;
  $("#retry").hidden = action === null;
  $("#connection").hidden = false;
}

export function clearBanner() {
  retry = null;
  $("#connection").hidden = true;
}

export function installRetry() {
  $("#retry").addEventListener("click", () => {
    const action = retry;
    clearBanner();
    if (action) action();
  });
}

// problemBox: where a problem document goes; without one it goes to the banner.
export async function attempt(action, problemBox = null) {
  if (problemBox) showProblem(problemBox, null);
  try {
    const result = await action();
    if (retry !== null || !$("#connection").hidden) clearBanner();
    return result;
  } catch (error) {
    if (error instanceof ConnectionLost) {
      banner(`The service cannot be reached (${error.message}).`, () => attempt(action, problemBox));
      return undefined;
    }
    if (error instanceof ApiProblem) {
      if (problemBox) showProblem(problemBox, error.problem);
      else {
        const { title, detail, status } = error.problem;
        const hint = status === 401 ? " Type the API key above, then retry." : "";
        banner(`${title} (${status}): ${detail || ""}${hint}`, () => attempt(action, problemBox));
      }
      return undefined;
    }
    throw error;
  }
}
