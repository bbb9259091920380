// The dashboard: one page, four views chosen by the URL fragment (#series, #jobs, #models,
// #forecast?model=…&version=…), every number read from the public API.

import { apiKey } from "./api.js";
import { installRetry } from "./attempt.js";
import { $ } from "./dom.js";
import { initForecast, showForecast } from "./forecast.js";
import { hideJobs, initJobs, showJobs } from "./jobs.js";
import { initModels, showModels } from "./models.js";
import { initSeries, showSeries } from "./series.js";

const VIEWS = {
  series: showSeries,
  jobs: showJobs,
  models: showModels,
  forecast: showForecast,
};

function route() {
  const [name, search] = location.hash.slice(1).split("?");
  const view = name in VIEWS ? name : "series";
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view !== "jobs") hideJobs();
  VIEWS[view](new URLSearchParams(search || ""));
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
initJobs();
initModels();
initForecast();
showKeyState();
window.addEventListener("hashchange", route);
route();
