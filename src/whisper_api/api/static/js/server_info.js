// whisper-api web page: what the server offers: its models, the languages and tasks of the
// chosen one, and a line on its decoders and queue.

import { apiJson } from "./api.js";
import { $, capitalise } from "./dom.js";

// code -> English name of the languages the server's model offers (GET /api/v1/languages).
export const languageNames = new Map();

/** Offers the languages and tasks of the chosen model (the server's own where none is chosen):
 *  English alone on an English-only one. */
async function loadLanguages() {
  const model = $("#model").value;
  const query = model ? `?model=${encodeURIComponent(model)}` : "";
  const offered = await apiJson(`/api/v1/languages${query}`, { ask: false });
  const select = $("#language");
  const chosen = select.value;
  const names = offered.languages.slice().sort((a, b) => a.name.localeCompare(b.name));
  select.replaceChildren(new Option("Detect automatically", "auto"));
  languageNames.clear();
  for (const { code, name } of names) {
    languageNames.set(code, name);
    select.append(new Option(`${capitalise(name)} (${code})`, code));
  }
  select.value = languageNames.has(chosen) ? chosen : "auto";
  const translate = $('input[name="task"][value="translate"]');
  const canTranslate = offered.tasks.includes("translate");
  translate.closest("label").hidden = !canTranslate;
  if (!canTranslate && translate.checked) $('input[name="task"][value="transcribe"]').checked = true;
}

export async function loadLanguagesIfServed() {
  try {
    await loadLanguages();
  } catch {
    // A restarting decoder: the page offers automatic detection until the next load.
  }
}

export async function loadServerInfo() {
  const line = $("#server-status");
  try {
    const models = await apiJson("/v1/models", { ask: false });
    const ids = (models.data || []).map((m) => m.id).filter((id) => id !== "whisper-1");
    const select = $("#model");
    const chosen = select.value;
    select.replaceChildren(new Option("Server's choice", ""));
    for (const id of ids) select.append(new Option(id, id));
    select.value = ids.includes(chosen) ? chosen : "";
    $("#model-field").hidden = ids.length < 2;
  } catch (error) {
    if (error.status === 401) {
      line.textContent = "This server needs an API key.";
      line.dataset.state = "warn";
      return;
    }
  }
  await loadLanguagesIfServed();
  try {
    const status = await apiJson("/api/v1/decoder_status", { ask: false });
    const parts = [];
    if (status.restarting) parts.push("decoder restarting");
    else if (status.max_model_to_use) parts.push(`model ${status.last_loaded_model_size || status.max_model_to_use}`);
    parts.push(status.gpu_mode ? "GPU" : "CPU");
    parts.push(status.tasks_in_queue ? `${status.tasks_in_queue} waiting` : "queue empty");
    line.textContent = `Server: ${parts.join(" · ")}`;
    line.dataset.state = status.restarting ? "warn" : "ok";
  } catch (error) {
    line.textContent = error.status === 0 ? "The server cannot be reached." : "";
    line.dataset.state = "warn";
  }
}
