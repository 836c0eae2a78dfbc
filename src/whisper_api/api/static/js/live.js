// whisper-api web page: live transcription of the microphone over the Realtime API
// (/v1/realtime): partial text in grey while a turn is spoken, a line of final text per turn.

import { $ } from "./dom.js";
import { apiKey } from "./storage.js";

const LIVE_RATE = 24000; // OpenAI's audio/pcm rate
const LIVE_SEND_EVERY_MS = 100;
// After Stop: how long the turns still being decoded may take to arrive.
const LIVE_DRAIN_MS = 30000;

// The worklet hands the microphone's samples to the page, block by block.
const CAPTURE_WORKLET = `
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("capture", Capture);
`;

/** PCM16 little-endian bytes of float samples, as base64. */
function pcm16Base64(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  samples.forEach((value, index) => {
    const clipped = Math.max(-1, Math.min(1, value));
    view.setInt16(index * 2, clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff, true);
  });
  let binary = "";
  for (let start = 0; start < bytes.length; start += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(start, start + 0x8000));
  }
  return btoa(binary);
}

export class LiveTranscription {
  constructor(root) {
    this.button = $("#live-button", root);
    this.status = $("#live-status", root);
    this.lines = $("#live-lines", root);
    this.copyButton = $("#live-copy", root);
    this.downloadButton = $("#live-download", root);
    this.items = new Map(); // item id -> { line, text, final }
    this.socket = null;
    this.audio = null;
    this.pending = [];
    this.button.addEventListener("click", () => (this.socket ? this.stop() : this.start()));
    this.copyButton.addEventListener("click", () => this.copy());
    this.downloadButton.addEventListener("click", () => this.download());
  }

  text() {
    return [...this.items.values()].filter((item) => item.final && item.text).map((item) => item.text).join("\n");
  }

  say(message) {
    this.status.textContent = message;
  }

  async start() {
    this.button.disabled = true;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
      this.socket = await this.connect();
      await this.listen(stream);
      this.button.textContent = "Stop";
      this.button.classList.add("recording");
      this.say("Listening… speak, and your words appear below.");
    } catch (error) {
      this.say(`Live transcription could not start: ${error.message || error}`);
      this.closeAudio();
      if (this.socket) this.socket.close();
      this.socket = null;
    } finally {
      this.button.disabled = false;
    }
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const key = apiKey();
    // A browser cannot set headers on a WebSocket: the key travels as a subprotocol, as
    // OpenAI's browser clients send it.
    const protocols = key ? ["realtime", `openai-insecure-api-key.${key}`] : ["realtime"];
    const socket = new WebSocket(`${scheme}://${location.host}/v1/realtime?intent=transcription`, protocols);
    socket.addEventListener("message", (message) => this.receive(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => this.closed(socket, event));
    return new Promise((resolve, reject) => {
      socket.addEventListener("open", () => {
        const language = $("#language").value;
        const transcription = language && language !== "auto" ? { language } : {};
        const audio = { input: { format: { type: "audio/pcm", rate: LIVE_RATE }, transcription } };
        socket.send(JSON.stringify({ type: "session.update", session: { type: "transcription", audio } }));
        resolve(socket);
      });
      socket.addEventListener("error", () => reject(new Error("the server refused the connection")));
    });
  }

  async listen(stream) {
    const context = new AudioContext({ sampleRate: LIVE_RATE });
    const url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: "text/javascript" }));
    await context.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, "capture");
    capture.port.onmessage = (message) => this.pending.push(message.data);
    source.connect(capture);
    const timer = setInterval(() => this.send(), LIVE_SEND_EVERY_MS);
    this.audio = { context, stream, timer };
  }

  send() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN || !this.pending.length) return;
    const length = this.pending.reduce((sum, block) => sum + block.length, 0);
    const samples = new Float32Array(length);
    let at = 0;
    for (const block of this.pending) {
      samples.set(block, at);
      at += block.length;
    }
    this.pending = [];
    this.socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: pcm16Base64(samples) }));
  }

  closeAudio() {
    if (!this.audio) return;
    clearInterval(this.audio.timer);
    this.audio.stream.getTracks().forEach((track) => track.stop());
    this.audio.context.close();
    this.audio = null;
  }

  /** Stop listening; the turns already spoken still arrive before the socket closes. */
  stop() {
    const socket = this.socket;
    this.send();
    this.closeAudio();
    this.button.textContent = "Start live transcription";
    this.button.classList.remove("recording");
    if (!socket) return;
    // Closed once the commit below is answered and every committed turn has its text.
    this.stopping = true;
    this.flushing = true;
    socket.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    this.say("Finishing the last words…");
    this.drainTimer = setTimeout(() => socket.close(), LIVE_DRAIN_MS);
    this.closeWhenDone();
  }

  closeWhenDone() {
    const waiting = [...this.items.values()].some((item) => item.committed && !item.final);
    if (this.stopping && !this.flushing && !waiting && this.socket) this.socket.close(1000);
  }

  closed(socket, event) {
    if (socket !== this.socket) return;
    clearTimeout(this.drainTimer);
    this.closeAudio();
    this.socket = null;
    this.stopping = this.flushing = false;
    this.button.textContent = "Start live transcription";
    this.button.classList.remove("recording");
    if (event.code !== 1000 && event.code !== 1005) {
      this.say(`Live transcription ended: ${event.reason || `connection closed (${event.code})`}`);
    } else {
      this.say("Live transcription stopped.");
    }
  }

  item(id) {
    if (!this.items.has(id)) {
      const line = document.createElement("li");
      line.className = "live-line partial";
      this.lines.append(line);
      this.items.set(id, { line, text: "", final: false, committed: false });
    }
    return this.items.get(id);
  }

  receive(event) {
    const prefix = "conversation.item.input_audio_transcription.";
    if (event.type === "input_audio_buffer.committed") {
      this.item(event.item_id).committed = true;
      this.flushing = false;
    } else if (event.type === `${prefix}delta`) {
      const item = this.item(event.item_id);
      item.text += event.delta;
      item.line.textContent = item.text;
    } else if (event.type === `${prefix}completed`) {
      const item = this.item(event.item_id);
      Object.assign(item, { text: event.transcript.trim(), final: true, committed: true });
      item.line.textContent = item.text;
      item.line.classList.remove("partial");
      item.line.hidden = !item.text;
      this.copyButton.hidden = this.downloadButton.hidden = !this.text();
      this.closeWhenDone();
    } else if (event.type === `${prefix}failed`) {
      const item = this.item(event.item_id);
      Object.assign(item, { final: true, committed: true });
      item.line.remove();
      this.say(`A turn could not be transcribed: ${event.error.message}`);
      this.closeWhenDone();
    } else if (event.type === "error") {
      // Stopping commits whatever was heard; with nothing heard that is no error.
      if (event.error.code === "input_audio_buffer_commit_empty") {
        this.flushing = false;
        this.closeWhenDone();
      } else {
        this.say(event.error.message);
      }
    }
  }

  copy() {
    navigator.clipboard.writeText(this.text()).then(
      () => this.say("Copied the session's text."),
      () => this.say("The browser did not allow copying."),
    );
  }

  download() {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([this.text() + "\n"], { type: "text/plain" }));
    link.download = `live-${new Date().toISOString().slice(0, 19).replaceAll(":", "-")}.txt`;
    link.click();
    URL.revokeObjectURL(link.href);
  }
}
