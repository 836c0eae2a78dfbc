// whisper-api web page: the server's API: requests with the API key, a sentence for each
// refusal, and the dialog that asks for a key when the server wants one.

import { $ } from "./dom.js";
import { apiKey, setApiKey } from "./storage.js";

/** Fires "change" whenever the key dialog closes: what the server offers may differ now. */
export const keyChanges = new EventTarget();

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The server's error message from a JSON error body, or a fallback. */
function serverMessage(text, fallback) {
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.message) return body.error.message;
    if (body && typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON
  }
  return fallback;
}

/** A sentence for the user about a refused request. */
function describeError(status, message, retryAfter, forUpload) {
  switch (status) {
    case 400:
      return forUpload ? `The server refused this file: ${message}.` : `Refused: ${message}.`;
    case 401:
      return "The server needs a valid API key.";
    case 403:
      return `Not allowed: ${message}.`;
    case 404:
      return "The server no longer knows this task (it expired or was deleted).";
    case 413:
      return `The file is too large for this server: ${message}.`;
    case 429: {
      const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again later.";
      return `The queue is full.${wait}`;
    }
    case 503: {
      const wait = retryAfter ? ` Try again in ${retryAfter} s.` : "";
      return `The server is busy or restarting: ${message}.${wait}`;
    }
    default:
      return `Error ${status}: ${message}`;
  }
}

export function errorFrom(status, text, retryAfterHeader, forUpload = false) {
  const message = serverMessage(text, text && text.length < 200 ? text : `HTTP ${status}`);
  const retryAfter = retryAfterHeader ? Number.parseInt(retryAfterHeader, 10) || null : null;
  return new ApiError(status, describeError(status, message.replace(/\.$/, ""), retryAfter, forUpload), retryAfter);
}

/** fetch() with the API key; on 401 asks for a key (when `ask`) and tries once more. */
export async function api(path, { method = "GET", ask = true, body = undefined } = {}) {
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      const headers = body === undefined ? authHeaders() : { ...authHeaders(), "Content-Type": "application/json" };
      response = await fetch(path, { method, headers, body, cache: "no-store" });
    } catch {
      throw new ApiError(0, "The server cannot be reached. Check the connection and try again.");
    }
    if (response.status === 401 && ask && attempt === 0 && (await askForKey(true))) continue;
    if (!response.ok) {
      throw errorFrom(response.status, await response.text(), response.headers.get("Retry-After"));
    }
    return response;
  }
}

export async function apiJson(path, options) {
  return (await api(path, options)).json();
}

let keyPrompt = null;

/** Opens the key dialog; resolves true when a new key was saved. One dialog at a time. */
export function askForKey(rejected) {
  if (keyPrompt) return keyPrompt;
  const dialog = $("#key-dialog");
  const input = $("#key-input");
  $("#key-reason").textContent = rejected
    ? apiKey()
      ? "The server did not accept the stored API key. Enter another one."
      : "This server needs an API key. It is kept in this browser only."
    : "The API key is sent with every request and kept in this browser only.";
  $("#key-forget").hidden = !apiKey();
  input.value = apiKey();
  keyPrompt = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        keyPrompt = null;
        const choice = dialog.returnValue;
        if (choice === "save" && input.value.trim()) {
          setApiKey(input.value.trim());
          resolve(true);
        } else {
          if (choice === "forget") setApiKey(null);
          resolve(false);
        }
        keyChanges.dispatchEvent(new Event("change"));
      },
      { once: true },
    );
  });
  dialog.returnValue = "";
  if (typeof dialog.showModal === "function") dialog.showModal();
  else dialog.setAttribute("open", "");
  input.focus();
  return keyPrompt;
}
