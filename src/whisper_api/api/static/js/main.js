// whisper-api web page: upload files, follow their tasks, read and download transcripts, and
// transcribe the microphone live. ES modules, one concern each, loaded as they are: no build
// step and no dependencies. This one starts the page.

import { askForKey, keyChanges } from "./api.js";
import { $ } from "./dom.js";
import { LiveTranscription } from "./live.js";
import { ModelsPanel } from "./models.js";
import { loadLanguagesIfServed, loadServerInfo } from "./server_info.js";
import { restoreTasks } from "./task_card.js";
import { updateEmptyNote } from "./task_list.js";
import { setUpForm } from "./uploads.js";

setUpForm();
const models = new ModelsPanel($("#models-panel"), loadServerInfo);
$("#key-button").addEventListener("click", () => askForKey(false));
keyChanges.addEventListener("change", () => {
  loadServerInfo();
  models.refresh();
});
// An English-only model offers English and transcription alone.
$("#model").addEventListener("change", loadLanguagesIfServed);
updateEmptyNote();
loadServerInfo();
models.refresh();
restoreTasks();
const live = $("#live-panel");
if (live) new LiveTranscription(live);
