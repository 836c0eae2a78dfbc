// whisper-api web page: the list of task cards (task_card.js), and the note shown while it is
// empty.

import { $ } from "./dom.js";

/** Task id -> its TaskCard, for the cards whose upload the server took. */
export const cards = new Map();

export function updateEmptyNote() {
  $("#empty-note").hidden = $("#tasks").children.length > 0;
}
