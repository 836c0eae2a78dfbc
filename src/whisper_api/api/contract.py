"""Facts of the HTTP API, written once: the routes enforce them and the OpenAPI document
(whisper_api.api.openapi.document) publishes them."""

from __future__ import annotations

from typing import get_args

from decoder.wire.protocol import TaskType

# GET /api/v1/tasks pages.
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
# The largest offset a database's 64-bit integer holds.
MAX_OFFSET = 2**63 - 1
# OpenAI's audio API: the one model name its clients send (it means whatever model this server
# runs), and what they may ask for.
OPENAI_MODEL = "whisper-1"
OPENAI_RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
# The one that labels speakers whether or not `diarize` is sent.
DIARIZED_FORMAT = "diarized_json"
GRANULARITIES = ("segment", "word")

# whisper-asr-webservice's API (Bazarr, subgen-style clients): the file's form field, the tasks,
# and the `output` names it takes ("text" is what its documentation says) with this server's
# format for each.
ASR_FILE_FIELD = "audio_file"
ASR_TASKS: tuple[TaskType, ...] = get_args(TaskType)
ASR_OUTPUTS = {
    "txt": "txt",
    "text": "txt",
    "vtt": "vtt",
    "srt": "srt",
    "tsv": "tsv",
    "json": "json",
    "ass": "ass",
    "lrc": "lrc",
}

# The web page's script: its ES modules in api/static/js, by concern (main.js starts the page).
PAGE_MODULES = {
    "main.js": "starts the page",
    "api.js": "requests, refusals in words, and the API key dialog",
    "dom.js": "elements, times and names",
    "storage.js": "the API key and tasks this browser keeps",
    "uploads.js": "the files chosen or dropped",
    "task_list.js": "the list of tasks",
    "task_card.js": "a task: its upload, progress, transcript and cancel",
    "task_feed.js": "a task's news from the server: events, or polling",
    "transcript.js": "a transcript's segments, and copying it",
    "speakers.js": "speaker labels and renaming",
    "server_info.js": "the server's models, languages and state",
    "live.js": "live transcription of the microphone",
    "models.js": "the Models panel: an admin's models, loads, unloads and imports",
}
# The web page: URL path -> (file in api/static, media type, what it is). Nothing else in the
# folder is served.
PAGE_FILES: dict[str, tuple[str, str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8", "The web page"),
    "/index.html": ("index.html", "text/html; charset=utf-8", "The web page"),
    "/styles.css": ("styles.css", "text/css; charset=utf-8", "The web page's stylesheet"),
    **{
        f"/js/{name}": (f"js/{name}", "text/javascript; charset=utf-8", f"The web page's script: {what}")
        for name, what in PAGE_MODULES.items()
    },
}
