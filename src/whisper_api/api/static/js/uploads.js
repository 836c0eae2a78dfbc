// whisper-api web page: uploads: the files chosen or dropped, each sent with the form's options
// and followed on a card of its own.

import { $ } from "./dom.js";
import { TaskCard } from "./task_card.js";

function currentOptions() {
  return {
    task: $('input[name="task"]:checked').value,
    language: $("#language").value,
    model: $("#model-field").hidden ? "" : $("#model").value,
    wordTimestamps: $("#word-timestamps").checked,
    diarize: $("#diarize").checked,
    splitChannels: $("#split-channels").checked,
    channelNames: $("#channel-names").value.trim(),
  };
}

function uploadFiles(files) {
  const options = currentOptions();
  for (const file of files) {
    const card = new TaskCard({ name: file.name, type: options.task, created: new Date().toISOString(), file });
    card.upload(options);
  }
}

export function setUpForm() {
  // A call kept with one party per channel: each channel is decoded on its own, under its name.
  const split = $("#split-channels");
  split.addEventListener("change", () => {
    $("#channel-names-field").hidden = !split.checked;
  });
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
}
