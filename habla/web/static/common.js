// Shared by every page (a classic script, so pages load it with a plain <script src>): the API key kept in
// localStorage, fetch that turns OpenAI-style error bodies into readable messages, the nav bar, a status line.
"use strict";

window.habla = (() => {
  const KEY = "habla.apiKey";
  const PAGES = [["/", "Transcribe"], ["/talk", "Talk"], ["/tutor", "Tutor"]];

  const apiKey = () => (window.localStorage && localStorage.getItem(KEY)) || "";
  const authHeaders = () => (apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {});

  function setApiKey(value) {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  }

  // The message of an error response: OpenAI's {"error": {"message"}} when the server sent one.
  async function errorMessage(response) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) { /* not JSON: the status line says enough */ }
    if (response.status === 401) message += " — set the API key (top right).";
    return message;
  }

  // fetch with the API key; throws an Error whose message is the server's, so pages can show it as is.
  async function request(path, options = {}) {
    const headers = { ...authHeaders(), ...(options.headers || {}) };
    let response;
    try {
      response = await fetch(path, { ...options, headers });
    } catch (err) {
      throw new Error(`The server cannot be reached (${err.message}).`);
    }
    if (!response.ok) {
      const error = new Error(await errorMessage(response));
      error.status = response.status;
      throw error;
    }
    return response;
  }

  async function api(path, options = {}) {
    const response = await request(path, options);
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  const postJSON = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                               body: JSON.stringify(body) });

  // Server-sent events over fetch (EventSource cannot send the API key): calls onEvent(name, data) per event
  // until the stream ends or signal aborts.
  async function events(path, onEvent, signal) {
    const response = await request(path, { signal, headers: { Accept: "text/event-stream" } });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  // A WebSocket URL on this server; browsers cannot set headers on a WebSocket, so the key goes in the query.
  function wsURL(path) {
    const url = new URL(path, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (apiKey()) url.searchParams.set("api_key", apiKey());
    return url.toString();
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name.startsWith("aria-") || name.startsWith("data-") || name === "role" || name === "for") {
        node.setAttribute(name, value);
      } else {
        node[name] = value;
      }
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  // The status line (role=status): errors are also announced by assistive technology.
  function status(node, text, isError = false) {
    node.textContent = text;
    node.classList.toggle("error", isError);
    node.setAttribute("role", isError ? "alert" : "status");
  }

  // Fill <nav data-habla-nav>: links to the pages (this one marked) and the API key field.
  function nav() {
    const node = document.querySelector("nav[data-habla-nav]");
    if (!node) return;
    node.setAttribute("aria-label", "Main");
    const here = window.location.pathname.replace(/\/$/, "") || "/";
    node.append(el("a", { className: "brand", href: "/" }, "habla"));
    for (const [href, label] of PAGES) {
      const link = el("a", { href }, label);
      if (href === here) link.setAttribute("aria-current", "page");
      node.append(link);
    }
    const input = el("input", { type: "password", id: "api-key", autocomplete: "off", value: apiKey(),
                                placeholder: "only if the server has keys" });
    input.addEventListener("change", () => setApiKey(input.value.trim()));
    node.append(el("details", {}, el("summary", {}, apiKey() ? "API key ✓" : "API key"),
                   el("label", { for: "api-key" }, "API key ", input)));
  }

  // Save a Blob or text as a file.
  function download(name, data, type = "text/plain") {
    const blob = data instanceof Blob ? data : new Blob([data], { type });
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  const clock = (seconds) => {
    const s = Math.max(0, seconds);
    const m = Math.floor(s / 60);
    return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", nav);
  else nav();

  return { apiKey, setApiKey, authHeaders, request, api, postJSON, events, wsURL, el, status, download, clock };
})();
