// The /tutor page: pick a persona, speak (MediaRecorder), upload or type a turn, see the transcript with unsure
// words marked, the corrections, the tutor's reply (text and audio), the history and the report. Plain fetch
// against /v1/tutor (docs/tutor.md) with the helpers every page shares (common.js); no framework, no CDN.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const state = { personas: [], session: null, threshold: 0.5, recorder: null, chunks: [] };

  const { api, authHeaders, postJSON, request, el } = window.habla;
  const status = (text, isError = false) => window.habla.status($("status"), text, isError);

  // <audio src> cannot send an Authorization header: with an API key the audio is fetched and played as a blob.
  function audio(props, url) {
    const node = el("audio", { controls: true, ...props });
    if (!authHeaders().Authorization) {
      node.src = url;
      return node;
    }
    request(url).then((r) => r.blob()).then((b) => { node.src = URL.createObjectURL(b); })
      .catch((err) => status(err.message, true));
    return node;
  }

  // The transcript with each word the ASR was unsure of marked; the probability shows on hover.
  function userText(turn) {
    const p = el("p", { className: "user-text" });
    if (!turn.words || !turn.words.length) {
      p.textContent = turn.user_text;
      return p;
    }
    turn.words.forEach((w, i) => {
      if (i) p.append(" ");
      if (w.probability < state.threshold) {
        p.append(el("mark", { className: "low", title: `heard with ${Math.round(w.probability * 100)}% confidence`,
                              textContent: w.word }));
      } else {
        p.append(w.word);
      }
    });
    return p;
  }

  function correction(c) {
    let text;
    if (c.kind === "pronunciation") text = `“${c.original}”: ${c.explanation}`;
    else if (!c.original) text = `add “${c.suggestion}”`;
    else if (!c.suggestion) text = `leave out “${c.original}”`;
    else text = `“${c.original}” → “${c.suggestion}”`;
    return el("li", { className: c.kind, textContent: text, title: c.kind.replace("_", " ") });
  }

  function renderTurn(turn) {
    const box = el("article", { className: "turn", id: `turn-${turn.number}` });
    box.append(el("div", { className: "who", textContent: `You · turn ${turn.number}` }), userText(turn));
    if (turn.user_audio_url) {
      box.append(audio({ preload: "none", className: "user-audio" }, turn.user_audio_url));
    }
    const list = el("ul", { className: "corrections" });
    turn.corrections.forEach((c) => list.append(correction(c)));
    if (!turn.corrections.length) list.append(el("li", { textContent: "No corrections." }));
    box.append(list);
    const who = state.session ? state.session.persona.name : "Tutor";
    box.append(el("div", { className: "who", textContent: who }),
               el("p", { className: "reply", textContent: turn.reply_text }),
               audio({ preload: "auto", className: "reply-audio" }, turn.reply_audio_url));
    const t = turn.timings || {};
    const parts = ["asr", "corrections", "reply", "tts"].filter((k) => k in t).map((k) => `${k} ${t[k].toFixed(2)} s`);
    box.append(el("div", { className: "timings", textContent: parts.join(" · ") }));
    return box;
  }

  function showPersona() {
    const p = state.personas.find((x) => x.id === $("persona").value);
    if (!p) return;
    $("persona-info").textContent = `${p.name}: ${p.language}, level ${p.level}, voice ${p.voice}`;
    const sample = audio({ id: "sample", preload: "none", "aria-label": `${p.name}'s voice` }, p.sample_url);
    $("sample").replaceWith(sample);
  }

  async function loadPersonas() {
    const body = await api("/v1/tutor/personas");
    state.personas = body.data;
    if (typeof body.pronunciation_threshold === "number") state.threshold = body.pronunciation_threshold;
    $("persona").replaceChildren(...body.data.map((p) => el("option", { value: p.id,
      textContent: `${p.name} (${p.language}, ${p.level})` })));
    showPersona();
  }

  async function loadSessions() {
    const body = await api("/v1/tutor/sessions?limit=10");
    $("sessions").replaceChildren(...body.data.map((s) => {
      const link = el("a", { href: `#${s.id}`, textContent: `${s.persona.name} · ${s.turn_count} turns · ` +
                                                            new Date(s.created_at * 1000).toLocaleString() });
      link.addEventListener("click", (e) => { e.preventDefault(); openSession(s.id); });
      return el("li", {}, link);
    }));
  }

  function useSession(session) {
    state.session = session;
    $("say").hidden = false;
    $("report-btn").disabled = false;
    $("report-md").href = `${session.report_url}?format=markdown`;
    $("report-md").hidden = false;
    $("report").replaceChildren();
    $("turns").replaceChildren(...(session.turns || []).map(renderTurn));
    window.location.hash = session.id;
  }

  async function openSession(id) {
    try {
      useSession(await api(`/v1/tutor/sessions/${encodeURIComponent(id)}`));
      status("");
    } catch (err) {
      status(err.message, true);
    }
  }

  async function start() {
    status("Starting…");
    try {
      const session = await postJSON("/v1/tutor/sessions", { persona: $("persona").value });
      useSession(session);
      const p = session.persona;
      status(p.greeting ? `${p.name}: ${p.greeting}` : "");
      loadSessions();
    } catch (err) {
      status(err.message, true);
    }
  }

  async function sendTurn(form) {
    if (!state.session) return;
    status("The tutor is listening…");
    $("send").disabled = true;
    try {
      const turn = await api(`/v1/tutor/sessions/${state.session.id}/turns`, { method: "POST", body: form });
      const box = renderTurn(turn);
      $("turns").append(box);
      box.scrollIntoView({ block: "nearest" });
      box.querySelector(".reply-audio").play().catch(() => {});  // autoplay may be refused: the control stays
      status("");
      loadSessions();
    } catch (err) {
      status(err.message, true);
    } finally {
      $("send").disabled = false;
    }
  }

  function submit(event) {
    event.preventDefault();
    const form = new FormData();
    const file = $("file").files[0];
    const text = $("text").value.trim();
    if (file) form.append("file", file, file.name);
    else if (text) form.append("text", text);
    else return status("Record, choose a file or type something first.", true);
    $("file").value = "";
    $("text").value = "";
    sendTurn(form);
  }

  // Press to record, press again to send: the browser's own format (webm/opus or ogg/opus) is uploaded as is.
  async function toggleRecording() {
    const button = $("record");
    if (state.recorder) {
      state.recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      return status(`No microphone: ${err.message}`, true);
    }
    const recorder = new MediaRecorder(stream);
    state.recorder = recorder;
    state.chunks = [];
    recorder.ondataavailable = (e) => { if (e.data.size) state.chunks.push(e.data); };
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      state.recorder = null;
      button.classList.remove("recording");
      button.textContent = "● Record";
      const type = recorder.mimeType || "audio/webm";
      const blob = new Blob(state.chunks, { type });
      const form = new FormData();
      form.append("file", blob, type.includes("ogg") ? "turn.ogg" : "turn.webm");
      sendTurn(form);
    };
    recorder.start();
    button.classList.add("recording");
    button.textContent = "■ Stop and send";
    status("Recording… press again to send.");
  }

  async function showReport() {
    try {
      const r = await api(state.session.report_url);
      const mistakes = el("ul");
      r.mistakes.forEach((m) => mistakes.append(correction(m)));
      if (!r.mistakes.length) mistakes.append(el("li", { textContent: "No mistakes found." }));
      $("report").replaceChildren(
        el("p", { textContent: `${r.turn_count} turns · ${r.speaking_seconds.toFixed(1)} s speaking · ` +
                               `${r.words_spoken} words` }),
        el("h3", { textContent: "Mistakes" }), mistakes,
        el("h3", { textContent: "New words" }),
        el("p", { className: "new-words", textContent: r.new_words.join(", ") || "None yet." }));
    } catch (err) {
      status(err.message, true);
    }
  }

  async function init() {
    $("persona").addEventListener("change", showPersona);
    $("start").addEventListener("click", start);
    $("say").addEventListener("submit", submit);
    $("record").addEventListener("click", toggleRecording);
    $("report-btn").addEventListener("click", showReport);
    if (!window.MediaRecorder || !navigator.mediaDevices) $("record").disabled = true;
    try {
      await loadPersonas();
      await loadSessions();
      const id = window.location.hash.slice(1);
      if (id) await openSession(id);
    } catch (err) {
      status(err.message, true);
    }
  }

  init();
})();
