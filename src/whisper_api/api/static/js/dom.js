// whisper-api web page: finding elements, and how times, dates and names are written.

/** The first element under `root` that matches `selector`. */
export const $ = (selector, root = document) => root.querySelector(selector);

/** A position in the audio: m:ss, or h:mm:ss. */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A length of time in words: "12 s", "3 min 04 s". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return "under a second";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s`;
}

/** A date and time from the server, in the reader's own way of writing them. */
export function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A file name without its extension, safe to download under. */
export function fileStem(name) {
  const base = (name || "transcript").replace(/\.[^./\\]+$/, "");
  return base.replace(/[^\w.\- ]+/g, "_").trim() || "transcript";
}

export function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
