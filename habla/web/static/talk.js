// The talk page: the microphone (mic.js, 16 kHz int16 PCM) streams to the /v1/talk WebSocket without pause, so
// the server hears the user even while the reply plays (barge-in). Reply audio is scheduled with Web Audio as it
// arrives; the running transcript shows partials and finals; the conversation exports through the protocol.
const { api, el, status, download, wsURL } = window.habla;
const $ = (id) => document.getElementById(id);

const LABELS = { idle: "Not connected", connecting: "Connecting…", listening: "Listening", hearing: "Hearing you",
                 thinking: "Thinking", speaking: "Speaking", error: "Stopped" };
const state = {
  ws: null, mic: null, player: null,
  binary: [],  // what each coming binary frame is: {kind: "audio", event} or {kind: "export", format}
  sources: new Set(),  // reply audio scheduled or playing (stopped on barge-in)
  playhead: 0,  // when the next reply chunk starts, on the player's clock
  replyDone: true,
  turns: new Map(),  // turn number → {user, assistant} list items
  log: [],  // the conversation as data, for a client-side export after the session ended
};
const say = (text, isError = false) => status($("status"), text, isError);

function setState(name) {
  const node = $("state");
  if (node.dataset.state === name) return;
  node.dataset.state = name;
  node.textContent = LABELS[name];
  document.body.dataset.talkState = name;
}

// -- the running transcript ---------------------------------------------------------------------------------
function turnItems(turn) {
  if (!state.turns.has(turn)) {
    const user = el("li", { className: "user", "data-turn": String(turn) },
                    el("div", { className: "who" }, "You"), el("p", { className: "text partial" }));
    const assistant = el("li", { className: "assistant", "data-turn": String(turn), hidden: true },
                         el("div", { className: "who" }, "habla"), el("p", { className: "text" }));
    $("conversation").append(user, assistant);
    state.turns.set(turn, { user, assistant });
  }
  return state.turns.get(turn);
}

function userText(turn, text, final) {
  const p = turnItems(turn).user.querySelector(".text");
  p.textContent = text;
  p.classList.toggle("partial", !final);
  p.scrollIntoView({ block: "nearest" });
}

function assistantText(turn, text, replace = false) {
  const item = turnItems(turn).assistant;
  const p = item.querySelector(".text");
  p.textContent = replace ? text : p.textContent + text;
  item.hidden = !p.textContent.trim();
  p.scrollIntoView({ block: "nearest" });
}

// -- reply audio ----------------------------------------------------------------------------------------------
function play(event, buffer) {
  const samples = new Int16Array(buffer);
  const audio = state.player.createBuffer(1, samples.length, event.sample_rate);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = state.player.createBufferSource();
  source.buffer = audio;
  source.connect(state.player.destination);
  // Chunks play back to back; a small lead keeps the first one from starting late and clipping.
  state.playhead = Math.max(state.playhead, state.player.currentTime + 0.05);
  source.start(state.playhead);
  state.playhead += audio.duration;
  state.sources.add(source);
  source.onended = () => {
    state.sources.delete(source);
    // Seconds of reply audio played to the end, for anyone watching the page (the browser tests do).
    const body = document.body.dataset;
    body.replySeconds = (Number(body.replySeconds || 0) + audio.duration).toFixed(2);
    if (!state.sources.size && state.replyDone && $("state").dataset.state === "speaking") setState("listening");
  };
  setState("speaking");
}

function stopPlayback() {
  for (const source of state.sources) {
    source.onended = null;
    source.stop();
  }
  state.sources.clear();
  state.playhead = 0;
}

// -- server events ----------------------------------------------------------------------------------------------
function onEvent(event) {
  switch (event.type) {
    case "session.ready":
      setState("listening");
      say("");
      break;
    case "speech.started":  // the user speaks: any reply under way was interrupted (barge-in)
      stopPlayback();
      setState("hearing");
      break;
    case "transcript.partial":
      userText(event.turn, event.text, false);
      break;
    case "speech.stopped":
      setState("thinking");
      break;
    case "transcript.final":
      userText(event.turn, event.text, true);
      state.log.push({ role: "user", turn: event.turn, text: event.text, start: event.start, end: event.end });
      state.replyDone = false;
      setState("thinking");
      break;
    case "turn.discarded":
      turnItems(event.turn).user.remove();
      state.turns.delete(event.turn);
      setState("listening");
      break;
    case "reply.delta":
      assistantText(event.turn, event.text);
      break;
    case "reply.audio":
      state.binary.push({ kind: "audio", event });
      break;
    case "reply.done":
      state.replyDone = true;
      assistantText(event.turn, event.text, true);
      turnItems(event.turn).assistant.querySelector(".text").classList.toggle("interrupted", event.interrupted);
      state.log.push({ role: "assistant", turn: event.turn, text: event.text, interrupted: event.interrupted });
      if (!state.sources.size && $("state").dataset.state !== "hearing") setState("listening");
      break;
    case "session.export":
      if (event.content !== undefined) download(`conversation.${event.format}`, event.content);
      else state.binary.push({ kind: "export", format: event.format });
      break;
    case "error":
      say(event.message, true);
      break;
    default:
      break;  // turn.timings, input.ended: nothing to show
  }
}

function onBinary(buffer) {
  const next = state.binary.shift();
  if (!next) return;
  if (next.kind === "audio") play(next.event, buffer);
  else download(`conversation.${next.format}`, new Blob([buffer], { type: "audio/wav" }));
}

// -- session ----------------------------------------------------------------------------------------------------
async function start() {
  $("start").disabled = true;
  setState("connecting");
  say("");
  try {
    state.player = new AudioContext();  // made on the click: browsers only let a gesture start audio
    const ws = new WebSocket(wsURL("/v1/talk"));
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onmessage = (message) => (typeof message.data === "string" ? onEvent(JSON.parse(message.data))
                                                                  : onBinary(message.data));
    ws.onclose = (close) => {
      if (ws !== state.ws) return;  // this page ended it
      // The server's error event (shown already) says why better than most close reasons.
      const shown = $("status").classList.contains("error") && $("status").textContent;
      stop(close.code === 1000 ? "" : shown || close.reason || `The conversation closed (code ${close.code}).`);
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("the conversation server cannot be reached"));
    });
    const options = { type: "session.start", language: $("language").value };
    if ($("voice").value) options.voice = $("voice").value;
    // turn_detection as in OpenAI Realtime; unset fields keep the server's settings
    const turn = {};
    if ($("turn-type").value) turn.type = $("turn-type").value;
    if ($("eagerness").value) turn.eagerness = $("eagerness").value;
    if (Object.keys(turn).length) options.turn_detection = turn;
    ws.send(JSON.stringify(options));
    state.mic = new window.habla.Microphone((pcm, level) => {
      $("level").value = Math.min(1, level * 4);
      if (ws.readyState === WebSocket.OPEN) ws.send(pcm);
    });
    await state.mic.start();
    $("stop").disabled = false;
    $("cancel").disabled = false;
  } catch (err) {
    stop(err.name === "NotAllowedError" ? "Microphone access was refused." : err.message);
  }
}

function stop(error = "") {
  if (state.mic) state.mic.stop();
  state.mic = null;
  stopPlayback();
  const ws = state.ws;
  state.ws = null;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "session.end" }));
  state.binary = [];
  $("start").disabled = false;
  $("stop").disabled = true;
  $("cancel").disabled = true;
  $("level").value = 0;
  setState(error ? "error" : "idle");
  if (error) say(error, true);
}

// While connected the server renders the export (all formats, with the audio); afterwards the page's own record.
function exportConversation() {
  const format = $("export-format").value;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify({ type: "session.export", format }));
  } else if (format === "json") {
    download("conversation.json", JSON.stringify({ turns: state.log }, null, 2), "application/json");
  } else if (format === "txt") {
    download("conversation.txt", state.log.map((t) => `${t.role === "user" ? "You" : "habla"}: ${t.text}`).join("\n"));
  } else {
    say("After the conversation ends only txt and json can be exported.", true);
  }
}

async function loadVoices() {
  try {
    const voices = (await api("/v1/audio/voices")).data;
    const fill = () => {
      const language = $("language").value;
      const fitting = voices.filter((v) => (v.language || "").split(/[-_]/)[0] === language);
      $("voice").replaceChildren(el("option", { value: "" }, "default for the language"),
                                 ...fitting.map((v) => el("option", { value: v.name }, `${v.name} (${v.engine})`)));
    };
    $("language").addEventListener("change", fill);
    fill();
  } catch (err) {
    say(err.message, true);
  }
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", () => stop());
$("cancel").addEventListener("click", () => {
  stopPlayback();
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "reply.cancel" }));
});
$("export").addEventListener("click", exportConversation);
window.addEventListener("pagehide", () => stop());
loadVoices();
