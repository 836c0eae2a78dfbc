// whisper-api web page: a task's card: its upload, its progress in the queue and the decoder
// (task_feed.js brings the news), its transcript, and cancelling or deleting it.

import { api, apiJson, authHeaders, askForKey, errorFrom } from "./api.js";
import { $, capitalise, clock, duration, fileStem, when } from "./dom.js";
import { languageNames } from "./server_info.js";
import { speakerLabel } from "./speakers.js";
import { forgetTask, rememberTask, storedTasks } from "./storage.js";
import { TaskFeed } from "./task_feed.js";
import { cards, updateEmptyNote } from "./task_list.js";
import { copyText, renderSegments } from "./transcript.js";

const FINAL = new Set(["finished", "failed"]);

/** A language's name as the server lists them ("Spanish"), or its code where it is not listed. */
function languageName(code) {
  const name = languageNames.get(code);
  return name ? capitalise(name) : code;
}

/** The small tag of a segment's language: its code, its name on hover. */
function languageTag(code) {
  const tag = document.createElement("span");
  tag.className = "language-tag";
  tag.textContent = code;
  tag.title = languageName(code);
  return tag;
}

export class TaskCard {
  /** `record`: {id, name, created, type}; `file`: the local File while this page has it. */
  constructor({ name, type, created, file = null }) {
    this.id = null;
    this.name = name;
    this.type = type;
    this.created = created;
    this.file = file;
    this.status = "uploading";
    this.feed = new TaskFeed(this);
    this.xhr = null;
    this.text = "";
    this.segmentItems = [];
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
    this.$(".subtitle-style").setAttribute("aria-label", `Subtitle style of ${name}`);
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
    if ((this.languages || []).length > 1) {
      const named = ({ language, share }) => `${languageName(language)} ${Math.round(share * 100)}%`;
      parts.push(this.languages.map(named).join(", "));
    } else if (this.language) {
      parts.push(languageName(this.language));
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
    if (options.splitChannels) {
      form.append("channels", "split");
      if (options.channelNames) form.append("channel_names", options.channelNames);
    }
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
        this.feed.follow();
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

  wantsNews() {
    return !this.closed && !FINAL.has(this.status);
  }

  queuePosition(position) {
    if (this.status === "pending") this.update({ ...this.lastTask, position_in_queue: position });
  }

  trouble(message) {
    this.setProgress(this.$("progress").value, `${message} Retrying…`);
  }

  /** After a reload: the task as it is now, then live updates while it runs. */
  async resume() {
    try {
      this.update(await apiJson(`/api/v1/tasks/${encodeURIComponent(this.id)}`));
    } catch (error) {
      if (error.status === 404 || error.status === 400) return this.expire();
      this.setProgress(null, `${error.message} Retrying…`);
      return this.feed.poll();
    }
    this.feed.follow();
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
      this.feed.stop();
      const took = task.processing_duration ? ` in ${duration(task.processing_duration)}` : "";
      this.setProgress(false, `Finished${took}.`);
      this.$("progress").hidden = true;
      if (previous !== "finished" || !this.loaded) this.loadResult();
    } else if (task.status === "failed") {
      this.feed.stop();
      this.setProgress(false, "");
      this.$(".progress-area").hidden = true;
      this.showError(`Decoding failed: ${task.error || "unknown error"}.`);
    }
  }

  expire() {
    this.feed.stop();
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
    this.languages = result.languages || [];
    this.setMeta();
    this.speakers = result.speakers || [];
    this.renderSegments(result.segments || [], this.text);
    this.$(".result").hidden = false;
    this.$(".copy").hidden = false;
    this.$(".downloads").hidden = false;
    if (this.file) this.$(".player").hidden = false;
  }

  renderSegments(segments, text) {
    const play = this.file ? (seconds) => this.play(seconds) : null;
    const label = (name) => speakerLabel(this, this.speakers || [], name);
    // Each segment says its language where the recording holds more than one.
    const tag = (this.languages || []).length > 1 ? languageTag : null;
    this.segmentItems = renderSegments(this.$(".segments"), segments, text, play, label, tag);
  }

  play(seconds) {
    const audio = this.$(".player");
    audio.currentTime = seconds;
    audio.play().catch(() => {});
  }

  highlight(now) {
    for (const item of this.segmentItems) {
      item.el.classList.toggle("current", now >= item.start && now < item.end);
    }
  }

  copy() {
    copyText(this.text, this.$(".copy"), "Copy text");
  }

  async download(format, button) {
    button.disabled = true;
    try {
      // The style (a preset of line, timing and reading-speed limits) lays out subtitle formats only.
      const style = button.classList.contains("subtitles") ? this.$(".subtitle-style").value : "";
      const styled = style ? `&style=${encodeURIComponent(style)}` : "";
      const response = await api(
        `/api/v1/tasks/${encodeURIComponent(this.id)}/result?format=${format}${styled}`,
      );
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
        this.feed.poll();
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
    this.feed.stop();
    if (this.id) cards.delete(this.id);
    if (this.audioUrl) URL.revokeObjectURL(this.audioUrl);
    const next = this.el.nextElementSibling || this.el.previousElementSibling;
    const hadFocus = this.el.contains(document.activeElement);
    this.el.remove();
    if (hadFocus) (next ? $(".remove", next) : $("#drop-zone")).focus();
    updateEmptyNote();
  }
}

/** The cards of the tasks this browser uploaded before, as the server has them now. */
export function restoreTasks() {
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
