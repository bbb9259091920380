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

// Sends one request with the key, if any; a request that got no answer is a ConnectionLost.
async function send(path, { method = "GET", headers = {}, body } = {}) {
  const key = apiKey.get();
  try {
    // no-cache: revalidate (ETag → 304) instead of trusting max-age, so a page shows what
    // the service has now (a forecast after an append, say).
    return await fetch(path, {
      method, body, cache: "no-cache", headers: key ? { ...headers, "X-API-Key": key } : headers,
    });
  } catch (error) {
    throw new ConnectionLost(error.message);
  }
}

// A refusal is the service's problem document; anything else is not the service speaking (a
// proxy, or the server went away mid-answer).
async function refusal(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) return new ApiProblem(await response.json());
  return new ConnectionLost(`HTTP ${response.status} ${response.statusText}`);
}

// An image (or any binary) the service answers with, as an object URL for an <img>.
export async function apiImage(path) {
  const response = await send(path);
  if (!response.ok) throw await refusal(response);
  return URL.createObjectURL(await response.blob());
}

// A file the service answers with, saved under `filename`: fetched with the key (a plain
// link could not send X-API-Key, so under FORECAST_PROTECT_READS it would save a 401).
export async function apiDownload(path, filename) {
  const response = await send(path);
  if (!response.ok) throw await refusal(response);
  const url = URL.createObjectURL(await response.blob());
  const anchor = Object.assign(document.createElement("a"), { href: url, download: filename });
  anchor.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);  // some browsers read it late
}

export async function api(path, { method = "GET", json, form, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const response = await send(path, { method, headers, body });
  if (response.status === 204) return null;
  if (!response.ok) throw await refusal(response);
  return response.json();
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

// A new Idempotency-Key per press of a button that creates something: a retry after a lost
// answer gets the first one's resource back. crypto.randomUUID needs a secure context (https or
// localhost); getRandomValues does not.
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
