// The transcribe page: upload files as durable jobs (/v1/jobs), follow their progress over SSE, show the
// segments against the audio, download each format, summarize and ask (/v1/jobs/{id}/summary, /ask).
const { api, apiKey, request, postJSON, events, el, status, download, clock } = window.habla;
const $ = (id) => document.getElementById(id);

const FORMATS = ["txt", "srt", "vtt", "tsv", "json"];
const SPEAKER_LABEL = /\bSPEAKER_\d{2,}\b/g;
const state = {
  job: null,  // the job on screen (its public JSON)
  segments: [],
  names: new Map(),  // job id → Map(speaker label → the name given on this page)
  follow: null,  // AbortController of the SSE stream being followed
  audio: new Map(),  // job id → what the player plays: an object URL (a file from this page) or the server copy
};
const say = (text, isError = false) => status($("status"), text, isError);

function jobOptions() {
  return {
    model: $("model").value,
    language: $("language").value,
    task: $("task").value,
    word_timestamps: $("words").checked,
    diarize: $("diarize").checked,
  };
}

async function submitFile(file, options) {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [name, value] of Object.entries(options)) if (value !== "" && value !== false) form.append(name, value);
  const job = await api("/v1/jobs", { method: "POST", body: form });
  state.audio.set(job.id, URL.createObjectURL(file));
  return job;
}

async function submit(files) {
  if (!files.length) return say("Choose or drop a file first.", true);
  $("submit").disabled = true;
  try {
    const options = jobOptions();
    let last = null;
    for (const file of files) {
      say(`Uploading ${file.name}…`);
      last = await submitFile(file, options);
    }
    say(files.length > 1 ? `${files.length} jobs queued.` : "");
    $("files").value = "";
    refreshJobs();
    show(last);
  } catch (err) {
    say(err.message, true);
  } finally {
    $("submit").disabled = false;
  }
}

// -- the job on screen ----------------------------------------------------------------------------------------
function describe(job) {
  const parts = [job.filename || job.id, job.language, job.duration_seconds ? clock(job.duration_seconds) : null,
                 job.model].filter(Boolean);
  return parts.join(" · ");
}

function showProgress(job) {
  const running = job.status === "queued" || job.status === "running";
  $("progress-box").hidden = !running && job.status === "succeeded";
  $("cancel").hidden = !running;
  $("progress").value = job.progress || 0;
  let text = job.status;
  if (job.status === "running") {
    text = `running: ${Math.round(job.progress || 0)} %`;
    if (job.duration_seconds) text += ` (${clock(job.position_seconds)} of ${clock(job.duration_seconds)})`;
    if (job.eta_seconds) text += `, about ${Math.ceil(job.eta_seconds)} s left`;
  } else if (job.status === "failed") {
    text = `failed: ${job.error}`;
  }
  $("progress-text").textContent = text;
  $("progress-text").className = job.status === "failed" ? "error" : "";
  $("job-meta").textContent = describe(job);
}

async function show(job) {
  if (state.follow) state.follow.abort();
  state.job = job;
  state.segments = [];
  $("job").hidden = false;
  $("segments").replaceChildren();
  $("downloads").hidden = true;
  $("assistant").hidden = true;
  $("answer").replaceChildren();
  setPlayer(job);
  showProgress(job);
  if (job.status === "succeeded") return loadResult(job);
  if (job.status === "queued" || job.status === "running") follow(job);
}

// The audio under the transcript: the file picked on this page, else the server's copy of the upload (a plain
// URL streams with range requests; with an API key it must be fetched, as an <audio> element sends no headers).
async function setPlayer(job) {
  const player = $("player");
  let src = state.audio.get(job.id);
  if (!src) {
    const path = `/v1/jobs/${job.id}/audio`;
    try {
      src = apiKey() ? URL.createObjectURL(await (await request(path)).blob()) : path;
      state.audio.set(job.id, src);
    } catch {
      src = null;  // no longer kept: the transcript shows without a player
    }
  }
  if (!state.job || state.job.id !== job.id) return;
  player.hidden = !src;
  if (src) player.src = src;
  else player.removeAttribute("src");
}

// Live progress over SSE; when the stream drops (server restart, proxy), the job is read once more.
async function follow(job) {
  const controller = new AbortController();
  state.follow = controller;
  try {
    let attempt = 0;
    await events(`/v1/jobs/${job.id}/events`, (name, data) => {
      if (name === "segment") {  // decoded so far; a new attempt (retry after a restart) starts over
        if (data.attempt !== attempt) [attempt, state.segments] = [data.attempt, []];
        state.segments.push(data.segment);
        return renderSegments(true);
      }
      if (state.job && data.id === state.job.id) state.job = data;
      showProgress(data);
      if (name === "done") {
        $("segments").setAttribute("aria-busy", "false");
        refreshJobs();
        if (data.status === "succeeded") loadResult(data);
      }
    }, controller.signal);
  } catch (err) {
    if (controller.signal.aborted) return;
    say(`Lost the progress stream: ${err.message}`, true);
  }
}

async function loadResult(job) {
  try {
    const result = await api(`/v1/jobs/${job.id}/result?format=json`);
    if (!state.job || state.job.id !== job.id) return;  // another job was opened meanwhile
    state.segments = result.segments || [];
    renderSegments();
    renderDownloads(job);
    $("assistant").hidden = false;
  } catch (err) {
    say(err.message, true);
  }
}

// -- speakers: a colour each (by first appearance), renamed on this page; downloads carry the names -------------------
function speakerNames() {
  const id = state.job && state.job.id;
  if (!state.names.has(id)) state.names.set(id, new Map());
  return state.names.get(id);
}

function speakerOrder() {
  return [...new Set(state.segments.map((s) => s.speaker).filter(Boolean))];
}

function speakerColour(label) {
  const index = speakerOrder().indexOf(label);
  return `hsl(${(index * 137.5) % 360}deg 65% 45%)`;  // golden-angle hues: neighbours stay far apart
}

function speakerChip(label) {
  const chip = el("span", { className: "speaker" }, speakerNames().get(label) || label);
  chip.style.setProperty("--speaker", speakerColour(label));
  return chip;
}

function renderSpeakers() {
  const buttons = speakerOrder().map((label) => {
    const button = el("button", { type: "button", className: "secondary", "data-speaker": label,
                                  title: `Rename ${label}` }, speakerNames().get(label) || label);
    button.style.setProperty("--speaker", speakerColour(label));
    button.addEventListener("click", () => {
      const name = (window.prompt(`Name for ${label}`, speakerNames().get(label) || "") || "").trim();
      if (name) speakerNames().set(label, name.slice(0, 64));
      else speakerNames().delete(label);
      renderSegments();
    });
    return button;
  });
  $("speakers").replaceChildren(...buttons);
  $("speakers").hidden = !buttons.length;
}

function withNames(text, fmt) {
  const names = speakerNames();
  if (!names.size) return text;
  return text.replace(SPEAKER_LABEL, (label) => {
    const name = names.get(label);
    if (!name) return label;
    if (fmt === "rttm") return name.split(/\s+/).join("_");  // RTTM fields are whitespace-separated
    if (fmt === "vtt") return name.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    if (fmt === "json") return JSON.stringify(name).slice(1, -1);
    return name.replace(/[\t\r\n]+/g, " ");
  });
}

function renderSegments(live = false) {
  renderSpeakers();
  const items = state.segments.map((segment, i) => {
    const button = el("button", { type: "button", "data-index": String(i) },
                      el("time", { dateTime: `PT${segment.start.toFixed(2)}S` }, clock(segment.start)),
                      segment.speaker ? speakerChip(segment.speaker) : null,
                      el("span", {}, segment.text.trim()));
    button.addEventListener("click", () => seek(segment.start));
    return el("li", { id: `segment-${i}` }, button);
  });
  if (!items.length) items.push(el("li", { className: "muted" }, "No speech found."));
  $("segments").replaceChildren(...items);
  $("segments").setAttribute("aria-busy", String(live));
  if (live) items[items.length - 1].scrollIntoView({ block: "nearest" });
}

function seek(seconds) {
  const player = $("player");
  if (player.hidden) return;
  player.currentTime = seconds;
  player.play().catch(() => {});  // autoplay may be refused; the position is set anyway
}

// The segment under the play head is highlighted and kept in view.
function highlight() {
  const t = $("player").currentTime;
  const index = state.segments.findIndex((s) => s.start <= t && t < s.end);
  for (const item of $("segments").querySelectorAll("li.current")) {
    if (item.id !== `segment-${index}`) {
      item.classList.remove("current");
      item.firstChild.removeAttribute("aria-current");
    }
  }
  const item = index >= 0 && $(`segment-${index}`);
  if (item && !item.classList.contains("current")) {
    item.classList.add("current");
    item.firstChild.setAttribute("aria-current", "true");
    item.scrollIntoView({ block: "nearest" });
  }
}

function renderDownloads(job) {
  const chosen = [...document.querySelectorAll("input[name=format]:checked")].map((i) => i.value);
  const base = (job.filename || job.id).replace(/\.[^.]+$/, "");
  const buttons = (chosen.length ? chosen : FORMATS).map((fmt) => {
    const button = el("button", { type: "button", className: "secondary", "data-format": fmt },
                      `Download ${fmt}`);
    button.addEventListener("click", async () => {
      try {  // fetched (not a plain link) so the API key goes with it
        const response = await request(`/v1/jobs/${job.id}/result?format=${fmt}`);
        const type = response.headers.get("content-type") || "text/plain";
        download(`${base}.${fmt}`, new Blob([withNames(await response.text(), fmt)], { type }));
      } catch (err) {
        say(err.message, true);
      }
    });
    return button;
  });
  $("downloads").replaceChildren(...buttons);
  $("downloads").hidden = false;
}

// -- summary and questions ----------------------------------------------------------------------------------------
function renderAnswer(title, body) {
  const citations = body.citations.map((c) => {
    const button = el("button", { type: "button", className: "secondary cite",
                                  title: c.text, "aria-label": `Play from ${c.timestamp}: ${c.text}` }, c.timestamp);
    button.addEventListener("click", () => seek(c.start));
    return button;
  });
  // Bullets, action items and chapters are one per line: keep the lines.
  const text = el("p", { style: "white-space: pre-line" }, body.text.trim() || "(no answer)");
  $("answer").replaceChildren(el("h3", {}, title), text,
                              citations.length ? el("div", { className: "row" }, "Sources:", ...citations) : "");
}

async function assist(button, title, path, body) {
  const job = state.job;
  button.disabled = true;
  $("answer").replaceChildren(el("p", { className: "muted" }, "Thinking…"));
  try {
    const answer = await postJSON(`/v1/jobs/${job.id}/${path}`, body);
    if (state.job && state.job.id === job.id) renderAnswer(title, answer);
  } catch (err) {
    $("answer").replaceChildren(el("p", { className: "error", role: "alert" }, err.message));
  } finally {
    button.disabled = false;
  }
}

// -- past jobs ----------------------------------------------------------------------------------------------------
async function refreshJobs() {
  try {
    const page = await api("/v1/jobs?limit=50");
    const items = page.data.map((job) => {
      const when = new Date(job.created_at * 1000).toLocaleString();
      const link = el("a", { href: `#${job.id}` }, job.filename || job.id);
      link.addEventListener("click", (event) => { event.preventDefault(); history.replaceState(null, "", `#${job.id}`);
                                                  show(job); });
      return el("li", { "data-job": job.id }, link, " ", el("span", { className: "badge" }, job.status),
                el("div", { className: "muted small" }, when));
    });
    if (!items.length) items.push(el("li", { className: "muted" }, "No jobs yet."));
    $("jobs").replaceChildren(...items);
  } catch (err) {
    say(err.message, true);
  }
}

async function loadModels() {
  try {
    const models = await api("/v1/models");
    const names = models.data.filter((m) => !m.alias_of && m.family === "whisper").map((m) => m.id);
    $("model").append(...names.map((name) => el("option", { value: name }, name)));
  } catch (err) {
    say(err.message, true);
  }
}

// -- wiring -------------------------------------------------------------------------------------------------------
function wireDrop() {
  const zone = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    submit([...event.dataTransfer.files]);
  });
}

function init() {
  wireDrop();
  $("upload").addEventListener("submit", (event) => { event.preventDefault(); submit([...$("files").files]); });
  $("player").addEventListener("timeupdate", highlight);
  $("cancel").addEventListener("click", async () => {
    try {
      showProgress(await api(`/v1/jobs/${state.job.id}`, { method: "DELETE" }));
    } catch (err) {
      say(err.message, true);
    }
  });
  $("refresh").addEventListener("click", refreshJobs);
  $("summarize").addEventListener("click", (event) => {
    const style = $("summary-style");
    assist(event.target, `Summary (${style.selectedOptions[0].textContent.toLowerCase()})`, "summary",
           { style: style.value });
  });
  $("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    assist($("ask-button"), $("question").value.trim(), "ask", { question: $("question").value.trim() });
  });
  loadModels();
  refreshJobs();
  const id = window.location.hash.slice(1);
  if (id) api(`/v1/jobs/${encodeURIComponent(id)}`).then(show).catch((err) => say(err.message, true));
}

init();
