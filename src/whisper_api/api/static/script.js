// whisper-api web page: upload files, follow their tasks, read and download transcripts.
// Plain JavaScript, no build step, no dependencies.
"use strict";

// code -> English name of the languages the server's model offers (GET /api/v1/languages).
const languageNames = new Map();

const KEY_STORAGE = "whisper-api.key";
const TASKS_STORAGE = "whisper-api.tasks";
const POLL_INTERVAL_MS = 1000;
const FINAL = new Set(["finished", "failed"]);

const $ = (selector, root = document) => root.querySelector(selector);

// ---------------------------------------------------------------- storage

function storageGet(name) {
  try {
    return localStorage.getItem(name);
  } catch {
    return null;
  }
}

function storageSet(name, value) {
  try {
    if (value === null) localStorage.removeItem(name);
    else localStorage.setItem(name, value);
  } catch {
    // Private mode or storage full: the page still works, it just forgets.
  }
}

function apiKey() {
  return storageGet(KEY_STORAGE) || "";
}

function storedTasks() {
  try {
    const list = JSON.parse(storageGet(TASKS_STORAGE) || "[]");
    return Array.isArray(list) ? list.filter((t) => t && typeof t.id === "string") : [];
  } catch {
    return [];
  }
}

function rememberTask(record) {
  const list = storedTasks().filter((t) => t.id !== record.id);
  list.push(record);
  storageSet(TASKS_STORAGE, JSON.stringify(list));
}

function forgetTask(id) {
  storageSet(TASKS_STORAGE, JSON.stringify(storedTasks().filter((t) => t.id !== id)));
}

// ---------------------------------------------------------------- API access

class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function authHeaders() {
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

function errorFrom(status, text, retryAfterHeader, forUpload = false) {
  const message = serverMessage(text, text && text.length < 200 ? text : `HTTP ${status}`);
  const retryAfter = retryAfterHeader ? Number.parseInt(retryAfterHeader, 10) || null : null;
  return new ApiError(status, describeError(status, message.replace(/\.$/, ""), retryAfter, forUpload), retryAfter);
}

/** fetch() with the API key; on 401 asks for a key (when `ask`) and tries once more. */
async function api(path, { method = "GET", ask = true, body = undefined } = {}) {
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

async function apiJson(path, options) {
  return (await api(path, options)).json();
}

// ---------------------------------------------------------------- API key dialog

let keyPrompt = null;

/** Opens the key dialog; resolves true when a new key was saved. One dialog at a time. */
function askForKey(rejected) {
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
          storageSet(KEY_STORAGE, input.value.trim());
          resolve(true);
        } else {
          if (choice === "forget") storageSet(KEY_STORAGE, null);
          resolve(false);
        }
        loadServerInfo();
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

// ---------------------------------------------------------------- formatting

function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return "under a second";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s`;
}

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function fileStem(name) {
  const base = (name || "transcript").replace(/\.[^./\\]+$/, "");
  return base.replace(/[^\w.\- ]+/g, "_").trim() || "transcript";
}

// ---------------------------------------------------------------- task cards

const cards = new Map(); // task id -> TaskCard

class TaskCard {
  /** `record`: {id, name, created, type}; `file`: the local File while this page has it. */
  constructor({ name, type, created, file = null }) {
    this.id = null;
    this.name = name;
    this.type = type;
    this.created = created;
    this.file = file;
    this.status = "uploading";
    this.source = null;
    this.pollTimer = null;
    this.xhr = null;
    this.text = "";
    this.closed = false;

    this.el = $("#card-template").content.firstElementChild.cloneNode(true);
    this.$ = (selector) => $(selector, this.el);
    this.$(".file-name").textContent = name;
    this.setMeta();
    this.$(".copy").setAttribute("aria-label", `Copy the text of ${name}`);
    this.$(".copy").addEventListener("click", () => this.copy());
    for (const button of this.el.querySelectorAll(".download")) {
      button.setAttribute("aria-label", `Download ${button.dataset.format.toUpperCase()} of ${name}`);
      button.addEventListener("click", () => this.download(button.dataset.format, button));
    }
    this.$(".remove").addEventListener("click", () => this.remove());
    this.$(".retry").addEventListener("click", () => this.retry());
    if (file) {
      this.audioUrl = URL.createObjectURL(file);
      const audio = this.$(".player");
      audio.src = this.audioUrl;
      audio.addEventListener("timeupdate", () => this.highlight(audio.currentTime));
    }
    $("#tasks").prepend(this.el);
    updateEmptyNote();
  }

  setMeta() {
    const kind = this.type === "translate" ? "Translation" : "Transcription";
    const parts = [kind];
    if (this.created) parts.push(when(this.created));
    if (this.language) {
      const name = languageNames.get(this.language);
      parts.push(name ? capitalise(name) : this.language);
    }
    if (this.audioDuration) parts.push(clock(this.audioDuration));
    this.$(".meta").textContent = parts.join(" · ");
  }

  setBadge(status) {
    const labels = {
      uploading: "Uploading",
      pending: "Waiting",
      processing: "Decoding",
      finished: "Done",
      failed: "Failed",
      refused: "Refused",
      cancelling: "Cancelling",
    };
    const badge = this.$(".badge");
    badge.textContent = labels[status] || status;
    badge.dataset.status = status;
    this.el.dataset.status = status;
    const remove = this.$(".remove");
    const running = status === "uploading" || status === "pending" || status === "processing";
    remove.textContent = running ? "Cancel" : this.id ? "Delete" : "Dismiss";
    remove.setAttribute("aria-label", `${remove.textContent} ${this.name}`);
    remove.disabled = status === "cancelling";
  }

  setProgress(value, text) {
    const area = this.$(".progress-area");
    area.hidden = value === null && !text;
    const bar = this.$("progress");
    if (value === null || value === undefined) bar.removeAttribute("value");
    else bar.value = Math.max(0, Math.min(1, value));
    bar.hidden = value === false;
    this.$(".progress-text").textContent = text || "";
  }

  showError(message) {
    const error = this.$(".error");
    error.textContent = message;
    error.hidden = !message;
  }

  // ---- upload

  upload(options) {
    this.options = options;
    this.setBadge("uploading");
    this.showError("");
    this.$(".retry").hidden = true;
    this.setProgress(0, "Uploading…");
    const form = new FormData();
    form.append("file", this.file, this.file.name);
    if (options.language && options.language !== "auto") form.append("language", options.language);
    if (options.wordTimestamps) form.append("word_timestamps", "true");
    if (options.diarize) form.append("diarize", "true");
    if (options.model) form.append("model", options.model);

    const xhr = new XMLHttpRequest();
    this.xhr = xhr;
    xhr.open("POST", `/api/v1/${options.task === "translate" ? "translate" : "transcribe"}`);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable) return this.setProgress(null, "Uploading…");
      const share = event.loaded / event.total;
      this.setProgress(share, `Uploading… ${Math.round(share * 100)} %`);
    };
    xhr.upload.onload = () => this.setProgress(null, "Checking the file…");
    xhr.onload = async () => {
      this.xhr = null;
      if (xhr.status === 200 || xhr.status === 201 || xhr.status === 202) {
        let task;
        try {
          task = JSON.parse(xhr.responseText);
        } catch {
          return this.refuse("The server sent an answer this page cannot read.", true);
        }
        this.id = task.task_id;
        cards.set(this.id, this);
        rememberTask({ id: this.id, name: this.name, created: task.time_uploaded || this.created, type: this.type });
        this.created = task.time_uploaded || this.created;
        this.setMeta();
        this.update(task);
        this.follow();
        return;
      }
      if (xhr.status === 401 && (await askForKey(true))) return this.upload(options);
      const error = errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After"), true);
      this.refuse(error.message, [429, 503, 401].includes(xhr.status));
    };
    xhr.onerror = () => {
      this.xhr = null;
      this.refuse("The upload broke off: the server cannot be reached, or it closed the connection (a file over its size limit can cause this).", true);
    };
    xhr.onabort = () => {
      this.xhr = null;
      this.discard();
    };
    xhr.send(form);
  }

  refuse(message, retryable) {
    this.setBadge("refused");
    this.setProgress(false, "");
    this.$(".progress-area").hidden = true;
    this.showError(message);
    this.$(".retry").hidden = !(retryable && this.file);
  }

  retry() {
    if (this.file && this.options) this.upload(this.options);
  }

  // ---- following a task

  /** Live updates: Server-Sent Events without a key, polling with one (EventSource sends no headers). */
  follow() {
    if (this.closed || FINAL.has(this.status)) return;
    if (apiKey() || typeof EventSource !== "function") return this.poll();
    const source = new EventSource(`/api/v1/tasks/${encodeURIComponent(this.id)}/events`);
    this.source = source;
    const handle = (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (event.type === "position") {
        if (this.status === "pending") this.update({ ...this.lastTask, position_in_queue: data.position_in_queue });
      } else {
        this.update(data);
      }
    };
    for (const name of ["status", "progress", "position"]) source.addEventListener(name, handle);
    source.onerror = () => {
      // The stream broke (or the server refused it): fall back to polling.
      this.stopFollowing();
      if (!this.closed && !FINAL.has(this.status)) this.poll();
    };
  }

  /** After a reload: the task as it is now, then live updates while it runs. */
  async resume() {
    try {
      this.update(await apiJson(`/api/v1/tasks/${encodeURIComponent(this.id)}`));
    } catch (error) {
      if (error.status === 404 || error.status === 400) return this.expire();
      this.setProgress(null, `${error.message} Retrying…`);
      return this.poll();
    }
    this.follow();
  }

  poll() {
    this.stopFollowing();
    const tick = async () => {
      if (this.closed) return;
      try {
        const task = await apiJson(`/api/v1/tasks/${encodeURIComponent(this.id)}`);
        this.update(task);
      } catch (error) {
        if (error.status === 404 || error.status === 400) return this.expire();
        this.setProgress(this.$("progress").value, `${error.message} Retrying…`);
      }
      if (!this.closed && !FINAL.has(this.status)) this.pollTimer = setTimeout(tick, POLL_INTERVAL_MS);
    };
    tick();
  }

  stopFollowing() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  /** Shows a task object from the server. */
  update(task) {
    if (!task || this.closed) return;
    this.lastTask = task;
    const previous = this.status;
    if (task.task_type) this.type = task.task_type;
    if (task.source_language) this.language = task.source_language;
    if (task.audio_duration) this.audioDuration = task.audio_duration;
    this.setMeta();
    // Keep showing "Cancelling" until the task is gone.
    if (this.status === "cancelling" && !FINAL.has(task.status)) return;
    this.status = task.status;
    this.setBadge(task.status);
    if (task.status === "pending") {
      const position = task.position_in_queue;
      const text =
        position == null ? "Waiting in the queue…" : position === 0 ? "Next in the queue…" : `Waiting: ${position} ahead in the queue…`;
      this.setProgress(null, text);
    } else if (task.status === "processing") {
      const progress = typeof task.progress === "number" ? task.progress : 0;
      const doing = task.stage === "diarizing" ? "Telling speakers apart" : "Decoding";
      if (progress <= 0) {
        this.setProgress(null, `${doing}…`);
      } else {
        const eta = task.eta_s != null ? ` · about ${duration(task.eta_s)} left` : "";
        this.setProgress(progress, `${doing}… ${Math.round(progress * 100)} %${eta}`);
      }
    } else if (task.status === "finished") {
      this.stopFollowing();
      const took = task.processing_duration ? ` in ${duration(task.processing_duration)}` : "";
      this.setProgress(false, `Finished${took}.`);
      this.$("progress").hidden = true;
      if (previous !== "finished" || !this.loaded) this.loadResult();
    } else if (task.status === "failed") {
      this.stopFollowing();
      this.setProgress(false, "");
      this.$(".progress-area").hidden = true;
      this.showError(`Decoding failed: ${task.error || "unknown error"}.`);
    }
  }

  expire() {
    this.stopFollowing();
    if (this.id) forgetTask(this.id);
    this.discard();
  }

  // ---- the transcript

  async loadResult() {
    this.loaded = true;
    let result;
    try {
      result = await apiJson(`/api/v1/tasks/${encodeURIComponent(this.id)}/result?format=json`);
    } catch (error) {
      this.loaded = false;
      if (error.status === 404 || error.status === 400) return this.expire();
      return this.showError(`The transcript could not be loaded: ${error.message}`);
    }
    if (this.closed) return;
    this.text = (result.text || "").trim();
    if (result.language) this.language = result.language;
    if (result.duration) this.audioDuration = result.duration;
    this.setMeta();
    this.speakers = result.speakers || [];
    this.renderSegments(result.segments || [], this.text);
    this.$(".result").hidden = false;
    this.$(".copy").hidden = false;
    this.$(".downloads").hidden = false;
    if (this.file) this.$(".player").hidden = false;
  }

  renderSegments(segments, text) {
    const list = this.$(".segments");
    list.replaceChildren();
    const playable = Boolean(this.file);
    list.classList.toggle("playable", playable);
    if (!segments.length) {
      const item = document.createElement("li");
      item.className = "segment";
      item.innerHTML = '<span class="segment-text"></span>';
      item.firstChild.textContent = text || "(no speech found)";
      list.append(item);
      return;
    }
    this.segmentItems = [];
    for (const segment of segments) {
      const item = document.createElement("li");
      const inner = document.createElement(playable ? "button" : "div");
      inner.className = "segment";
      if (playable) {
        inner.type = "button";
        inner.title = `Play from ${clock(segment.start)}`;
        inner.addEventListener("click", () => this.play(segment.start));
      }
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = clock(segment.start);
      const words = document.createElement("span");
      words.className = "segment-text";
      words.textContent = (segment.text || "").trim();
      inner.append(time);
      if (segment.speaker) inner.append(speakerLabel(this, this.speakers || [], segment.speaker));
      inner.append(words);
      item.append(inner);
      list.append(item);
      this.segmentItems.push({ start: segment.start, end: segment.end, el: inner });
    }
  }

  play(seconds) {
    const audio = this.$(".player");
    if (!this.file) return;
    audio.currentTime = seconds;
    audio.play().catch(() => {});
  }

  highlight(now) {
    for (const item of this.segmentItems || []) {
      item.el.classList.toggle("current", now >= item.start && now < item.end);
    }
  }

  async copy() {
    const button = this.$(".copy");
    let done = false;
    try {
      await navigator.clipboard.writeText(this.text);
      done = true;
    } catch {
      const area = document.createElement("textarea");
      area.value = this.text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      try {
        done = document.execCommand("copy");
      } catch {
        done = false;
      }
      area.remove();
    }
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => (button.textContent = "Copy text"), 1500);
  }

  async download(format, button) {
    button.disabled = true;
    try {
      const response = await api(`/api/v1/tasks/${encodeURIComponent(this.id)}/result?format=${format}`);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = `${fileStem(this.name)}.${format}`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      this.showError("");
    } catch (error) {
      if (error.status === 404 || error.status === 400) return this.expire();
      this.showError(`The download failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ---- cancel / delete

  async remove() {
    if (this.xhr) return this.xhr.abort();
    if (!this.id) return this.discard();
    const running = this.status === "pending" || this.status === "processing";
    const button = this.$(".remove");
    button.disabled = true;
    try {
      const response = await api(`/api/v1/tasks/${encodeURIComponent(this.id)}`, { method: "DELETE" });
      if (response.status === 202) {
        this.status = "cancelling";
        this.setBadge("cancelling");
        this.setProgress(null, "Cancelling: the task is dropped when its decoding step ends…");
        // The server drops the task without a final event: poll until it answers 404.
        this.poll();
        return;
      }
      this.expire();
    } catch (error) {
      if (error.status === 404 || error.status === 400) return this.expire();
      button.disabled = false;
      this.showError(`${running ? "Cancelling" : "Deleting"} failed: ${error.message}`);
    }
  }

  discard() {
    this.closed = true;
    this.stopFollowing();
    if (this.id) cards.delete(this.id);
    if (this.audioUrl) URL.revokeObjectURL(this.audioUrl);
    const next = this.el.nextElementSibling || this.el.previousElementSibling;
    const hadFocus = this.el.contains(document.activeElement);
    this.el.remove();
    if (hadFocus) (next ? $(".remove", next) : $("#drop-zone")).focus();
    updateEmptyNote();
  }
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function updateEmptyNote() {
  $("#empty-note").hidden = $("#tasks").children.length > 0;
}

// ---------------------------------------------------------------- the form

function currentOptions() {
  return {
    task: $('input[name="task"]:checked').value,
    language: $("#language").value,
    model: $("#model-field").hidden ? "" : $("#model").value,
    wordTimestamps: $("#word-timestamps").checked,
    diarize: $("#diarize").checked,
  };
}

function uploadFiles(files) {
  const options = currentOptions();
  for (const file of files) {
    const card = new TaskCard({ name: file.name, type: options.task, created: new Date().toISOString(), file });
    card.upload(options);
  }
}

function setUpForm() {
  const input = $("#file-input");
  const zone = $("#drop-zone");
  zone.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    if (input.files && input.files.length) uploadFiles([...input.files]);
    input.value = "";
  });
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth++;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
    if (files.length) uploadFiles(files);
  });
  // A file dropped next to the zone should not make the browser navigate away.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  $("#key-button").addEventListener("click", () => askForKey(false));
  // An English-only model offers English and transcription alone.
  $("#model").addEventListener("change", loadLanguagesIfServed);
}

// ---------------------------------------------------------------- server info

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

async function loadLanguagesIfServed() {
  try {
    await loadLanguages();
  } catch {
    // A restarting decoder: the page offers automatic detection until the next load.
  }
}

async function loadServerInfo() {
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

// ---------------------------------------------------------------- start

function restoreTasks() {
  const list = storedTasks().sort((a, b) => String(a.created).localeCompare(String(b.created)));
  for (const record of list) {
    if (cards.has(record.id)) continue;
    const card = new TaskCard({ name: record.name || record.id, type: record.type, created: record.created });
    card.id = record.id;
    card.status = "pending";
    card.setBadge("pending");
    card.setProgress(null, "Loading…");
    cards.set(record.id, card);
    card.resume();
  }
}

setUpForm();
updateEmptyNote();
loadServerInfo();
restoreTasks();
