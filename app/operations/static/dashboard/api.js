// The one way the dashboard talks to the service: the public HTTP API, nothing else.
// Errors arrive as RFC 9457 problem documents (ApiProblem); a request that never got an
// answer from the service is a ConnectionLost, which the page offers to retry.

const KEY = "forecast.apiKey";

export const apiKey = {
  // sessionStorage: the key lives as long as this tab, never on disk across sessions.
  get: () => sessionStorage.getItem(KEY) || "",
  set: (value) => (value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY)),
};

export class ApiProblem extends Error {
  constructor(problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
}

export class ConnectionLost extends Error {}

// An image (or any binary) the service answers with, as an object URL for an <img>.
export async function apiImage(path) {
  const headers = {};
  const key = apiKey.get();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(path, { headers, cache: "no-cache" });
  } catch (error) {
    throw new ConnectionLost(error.message);
  }
  if (!response.ok) {
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) throw new ApiProblem(await response.json());
    throw new ConnectionLost(`HTTP ${response.status} ${response.statusText}`);
  }
  return URL.createObjectURL(await response.blob());
}

export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  const key = apiKey.get();
  if (key) headers["X-API-Key"] = key;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    // no-cache: revalidate (ETag → 304) instead of trusting max-age, so a page shows what
    // the service has now (a forecast after an append, say).
    response = await fetch(path, { method, headers, body, cache: "no-cache" });
  } catch (error) {
    throw new ConnectionLost(error.message);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const payload = type.includes("json") ? await response.json() : await response.text();
  if (response.ok) return payload;
  if (typeof payload !== "object") {
    // Not the service speaking (a proxy, or the server went away mid-answer).
    throw new ConnectionLost(`HTTP ${response.status} ${response.statusText}`);
  }
  throw new ApiProblem(payload);
}

export const query = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of [].concat(value)) {
      if (item !== undefined && item !== null && item !== "") search.append(name, item);
    }
  }
  return search.toString();
};
