// The dashboard: one page, one view at a time, chosen by the URL fragment (#series,
// #forecast?model=…&version=…, …): every view opens from its URL with its data, back and
// forward walk through what was shown (nav.js), every number is read from the public API.

import { initAccuracy, showAccuracy } from "./accuracy.js";
import { apiKey } from "./api.js";
import { clearBanner, installRetry } from "./attempt.js";
import { hideBatches, initBatches, showBatch, showBatches } from "./batches.js";
import { initCollections, showCollection, showCollections } from "./collections.js";
import { $ } from "./dom.js";
import { initForecast, showForecast } from "./forecast.js";
import { hideJobs, initJobs, showJobs } from "./jobs.js";
import { initModels, showModels } from "./models.js";
import { nextShown } from "./nav.js";
import { initSeries, showSeries } from "./series.js";

// view → [show(params), leave()] (leave stops what the view polls).
const VIEWS = {
  series: [showSeries],
  collections: [showCollections],
  collection: [showCollection],
  jobs: [showJobs, hideJobs],
  batches: [showBatches, hideBatches],
  batch: [showBatch, hideBatches],
  models: [showModels],
  accuracy: [showAccuracy],
  forecast: [showForecast],
};
const DEFAULT_VIEW = "series";
// A detail view lights its list's link in the navigation.
const NAV_OF = { collection: "collections", batch: "batches" };
let shown = null;

function route() {
  const [name, search] = location.hash.slice(1).split("?");
  const view = name in VIEWS ? name : DEFAULT_VIEW;
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === (NAV_OF[view] || view)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (shown && shown !== view && VIEWS[shown][1]) VIEWS[shown][1]();
  shown = view;
  clearBanner();  // a new URL: what the last one met is not this one's problem
  nextShown();
  VIEWS[view][0](new URLSearchParams(search || ""));
}

function showKeyState() {
  $("#key-state").textContent = apiKey.get() ? "key set for this tab" : "";
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey.set($("#api-key").value.trim());
  $("#api-key").value = "";
  showKeyState();
  route();
});

installRetry();
initSeries();
initCollections();
initJobs();
initBatches();
initModels();
initAccuracy();
initForecast();
showKeyState();
window.addEventListener("hashchange", route);
route();
