// whisper-api web page: a transcript on its card: its segments, each with its time,
// speaker and language, that play the audio from there where the page has the file; and copying its text.

import { clock } from "./dom.js";

/** Fill `list` with the segments; `play(seconds)` where the audio can play from a segment
 *  (null where not), `label(name)` the element of a speaker, `tag(code)` that of a language
 *  (null: none shown). Returns each segment's times and element, for highlighting the one
 *  being played. */
export function renderSegments(list, segments, text, play, label, tag) {
  list.replaceChildren();
  list.classList.toggle("playable", Boolean(play));
  if (!segments.length) {
    const item = document.createElement("li");
    item.className = "segment";
    item.innerHTML = '<span class="segment-text"></span>';
    item.firstChild.textContent = text || "(no speech found)";
    list.append(item);
    return [];
  }
  const items = [];
  for (const segment of segments) {
    const item = document.createElement("li");
    const inner = document.createElement(play ? "button" : "div");
    inner.className = "segment";
    if (play) {
      inner.type = "button";
      inner.title = `Play from ${clock(segment.start)}`;
      inner.addEventListener("click", () => play(segment.start));
    }
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = clock(segment.start);
    const words = document.createElement("span");
    words.className = "segment-text";
    words.textContent = (segment.text || "").trim();
    inner.append(time);
    if (segment.speaker) inner.append(label(segment.speaker));
    if (tag && segment.language) inner.append(tag(segment.language));
    inner.append(words);
    item.append(inner);
    list.append(item);
    items.push({ start: segment.start, end: segment.end, el: inner });
  }
  return items;
}

/** Copy `text` to the clipboard (by a hidden text area where the clipboard API is refused),
 *  and say on `button` for a moment whether it worked, then `label` again. */
export async function copyText(text, button, label) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
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
  setTimeout(() => (button.textContent = label), 1500);
}
