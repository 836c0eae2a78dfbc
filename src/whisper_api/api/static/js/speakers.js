// whisper-api web page: the speakers of a transcript (diarize), their colours and names.

import { api } from "./api.js";

/** The colour of the speaker at `index` of the transcript's speakers: hues spread evenly. */
function speakerHue(index) {
  return (index * 137 + 210) % 360;
}

/** A clickable speaker label for a segment: its colour follows the speaker's order, and a
 *  click asks for a new name, which the server keeps for every format. */
export function speakerLabel(card, speakers, name) {
  // A span, not a button: a segment that plays its audio is a button already.
  const label = document.createElement("span");
  label.setAttribute("role", "button");
  label.tabIndex = 0;
  label.className = "speaker";
  label.textContent = name;
  label.title = `Rename ${name}`;
  label.style.setProperty("--speaker-hue", String(speakerHue(speakers.indexOf(name))));
  const rename = (event) => {
    event.stopPropagation();
    event.preventDefault();
    renameSpeaker(card, name);
  };
  label.addEventListener("click", rename);
  label.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") rename(event);
  });
  return label;
}

async function renameSpeaker(card, name) {
  const wanted = window.prompt(`A name for ${name}:`, name);
  if (wanted == null || !wanted.trim() || wanted.trim() === name) return;
  try {
    const response = await api(`/api/v1/tasks/${encodeURIComponent(card.id)}/speakers`, {
      method: "PUT",
      body: JSON.stringify({ [name]: wanted.trim() }),
    });
    const result = await response.json();
    card.speakers = result.speakers || [];
    card.renderSegments(result.segments || [], card.text);
    card.showError("");
  } catch (error) {
    card.showError(`The speaker could not be renamed: ${error.message}`);
  }
}
