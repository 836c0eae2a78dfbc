// whisper-api web page: the Models panel, shown to an admin only (GET /api/v1/models answers
// them alone): the server's models, loading and unloading them, and importing one with the
// progress of its download.

import { api, apiJson } from "./api.js";
import { $, when } from "./dom.js";

const POLL_INTERVAL_MS = 500;
// How long a load or unload is watched for in the list before the panel stops asking.
const WATCH_MS = 120_000;

function megabytes(bytes) {
  return `${Math.round(bytes / 1e6)} MB`;
}

export class ModelsPanel {
  /** `onChange` hears when the models tasks may name may have changed. */
  constructor(panel, onChange) {
    this.panel = panel;
    this.onChange = onChange;
    this.rows = $("#models-table tbody", panel);
    this.error = $("#models-error", panel);
    $("#import-form", panel).addEventListener("submit", (event) => {
      event.preventDefault();
      this.startImport();
    });
  }

  /** Shows the panel with the server's models, or hides it where this page may not manage them. */
  async refresh() {
    let listing;
    try {
      listing = await apiJson("/api/v1/models", { ask: false });
    } catch {
      this.panel.hidden = true;
      return null;
    }
    this.panel.hidden = false;
    this.render(listing);
    return listing;
  }

  render(listing) {
    const names = $("#import-name", this.panel);
    if (names.options.length !== listing.models.length) {
      names.replaceChildren(...listing.models.map((model) => new Option(model.name, model.name)));
    }
    const shown = listing.models.filter((model) => Object.keys(model.files).length || model.loaded.length);
    this.rows.replaceChildren(...shown.map((model) => this.row(model)));
  }

  row(model) {
    const row = document.createElement("tr");
    row.dataset.model = model.name;
    const loaded = model.loaded.map((held) => `decoder ${held.decoder} (${held.device})`).join(", ");
    const errors = Object.values(model.load_errors);
    const cells = [
      model.name,
      megabytes(model.size_bytes),
      Object.keys(model.files).join(", "),
      loaded || (errors.length ? `not loaded: ${errors[0]}` : "no"),
      model.last_used_at ? when(model.last_used_at) : "never",
    ];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement("td");
    const action = model.loaded.length ? "unload" : "load";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = action === "load" ? "Load" : "Unload";
    button.disabled = action === "load" && !model.available;
    button.addEventListener("click", () => this.command(model.name, action, button));
    actions.append(button);
    row.append(actions);
    return row;
  }

  async command(name, action, button) {
    button.disabled = true;
    this.showError(null);
    try {
      await api(`/api/v1/models/${encodeURIComponent(name)}/${action}`, { method: "POST" });
    } catch (error) {
      this.showError(error.message);
      button.disabled = false;
      return;
    }
    // The decoders load and unload between tasks: watch the list until it shows the change.
    const deadline = Date.now() + WATCH_MS;
    while (Date.now() < deadline) {
      const listing = await this.refresh();
      const model = listing && listing.models.find((each) => each.name === name);
      if (!model || (action === "load") === model.loaded.length > 0 || Object.keys(model.load_errors).length) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  }

  async startImport() {
    const name = $("#import-name", this.panel).value;
    const source = $("#import-source", this.panel).value.trim();
    this.showError(null);
    let started;
    try {
      started = await apiJson("/api/v1/models", { method: "POST", body: JSON.stringify({ name, source }) });
    } catch (error) {
      this.showError(error.message);
      return;
    }
    await this.follow(started);
  }

  /** Polls the import, showing its progress, until it ends. */
  async follow(started) {
    const area = $("#import-progress", this.panel);
    const bar = $("progress", area);
    const text = $(".progress-text", area);
    area.hidden = false;
    let current = started;
    while (current.status === "running") {
      if (current.total_bytes) {
        bar.value = current.done_bytes / current.total_bytes;
        text.textContent = `${current.name}: downloading ${megabytes(current.done_bytes)} of ${megabytes(current.total_bytes)}`;
      } else {
        bar.removeAttribute("value");
        text.textContent = `${current.name}: ${current.stage}`;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      try {
        current = await apiJson(`/api/v1/models/imports/${encodeURIComponent(current.import_id)}`);
      } catch (error) {
        this.showError(error.message);
        return;
      }
    }
    bar.value = current.status === "finished" ? 1 : 0;
    const fetched = current.done_bytes ? ` (downloaded ${megabytes(current.done_bytes)})` : "";
    text.textContent =
      current.status === "finished" ? `${current.name}: imported${fetched}` : `${current.name}: import failed`;
    if (current.status === "failed") this.showError(current.error);
    await this.refresh();
    this.onChange();
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message || "";
  }
}
