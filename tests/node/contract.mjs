// The official OpenAI Node SDK against a live habla server: node contract.mjs BASE_URL AUDIO_FILE
// Prints one JSON line {"passed": [...], "failed": [...]} and exits 1 when a check failed.
// Run by tests/contract/test_openai_contract.py::test_node_sdk (npm ci here first).
import fs from "node:fs";
import OpenAI from "openai";

const [baseURL, audioPath] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 300_000 });
const passed = [];
const failed = [];

function expect(condition, what) {
  if (!condition) throw new Error(what);
}

async function check(name, body) {
  try {
    await body();
    passed.push(name);
  } catch (error) {
    failed.push(`${name}: ${error?.constructor?.name}: ${error?.message}`);
  }
}

await check("models list has the OpenAI names", async () => {
  const { data, request_id } = await client.models.list().withResponse();
  const ids = data.data.map((m) => m.id);
  for (const id of ["whisper-1", "gpt-4o-transcribe", "tts-1", "gpt-4o-mini"]) expect(ids.includes(id), `no ${id}`);
  expect(request_id && request_id.startsWith("req_"), `request id ${request_id}`);
});

await check("transcription with gpt-4o-transcribe", async () => {
  const result = await client.audio.transcriptions.create({ model: "gpt-4o-transcribe",
    file: fs.createReadStream(audioPath) });
  // a short window hears "That pen" for "That pin" (docs/server.md, short encoder windows)
  expect(result.text.endsWith(" is invalid for this conference."), `text ${JSON.stringify(result.text)}`);
});

await check("verbose_json with word timestamps", async () => {
  const result = await client.audio.transcriptions.create({ model: "whisper-1", file: fs.createReadStream(audioPath),
    response_format: "verbose_json", timestamp_granularities: ["word"] });
  expect(result.words.length >= 5 && result.language === "english", JSON.stringify(result).slice(0, 300));
});

await check("text format is one line", async () => {
  const text = await client.audio.transcriptions.create({ model: "whisper-1", file: fs.createReadStream(audioPath),
    response_format: "text" });
  expect(text.endsWith(" is invalid for this conference.\n") && text.split("\n").length === 2,
    `text ${JSON.stringify(text)}`);
});

await check("streamed transcription ends with token usage", async () => {
  const stream = await client.audio.transcriptions.create({ model: "gpt-4o-mini-transcribe",
    file: fs.createReadStream(audioPath), stream: true });
  const events = [];
  for await (const event of stream) events.push(event);
  const done = events.at(-1);
  expect(done.type === "transcript.text.done" && done.usage.type === "tokens", JSON.stringify(done));
  expect(done.usage.total_tokens === done.usage.input_tokens + done.usage.output_tokens, "token sums");
});

await check("srt with stream=true is the subtitles", async () => {
  // The SDK decides to parse events from `stream: true` alone (as with OpenAI), so read the raw answer.
  const response = await client.audio.transcriptions.create({ model: "whisper-1",
    file: fs.createReadStream(audioPath), response_format: "srt", stream: true }).asResponse();
  const srt = await response.text();
  expect(typeof srt === "string" && srt.startsWith("1\n00:00:00,000 --> "), `srt ${JSON.stringify(srt)}`);
});

await check("translation", async () => {
  const result = await client.audio.translations.create({ model: "whisper-1", file: fs.createReadStream(audioPath) });
  expect(result.text.toLowerCase().includes("invalid for this conference"), `text ${result.text}`);
});

await check("speech as flac with a voice object", async () => {
  const response = await client.audio.speech.create({ model: "gpt-4o-mini-tts", voice: { id: "alloy" },
    input: "Hello from Node.", response_format: "flac" });
  const bytes = Buffer.from(await response.arrayBuffer());
  expect(bytes.subarray(0, 4).toString() === "fLaC" && bytes.length > 2000, `flac of ${bytes.length} bytes`);
  expect(bytes.readUIntBE(21, 5) % 2 ** 36 > 24000 * 0.5, "STREAMINFO total samples");
});

await check("speech as server-sent events", async () => {
  const response = await client.audio.speech.create({ model: "tts-1", voice: "alloy", input: "Hello from Node.",
    response_format: "pcm", stream_format: "sse" });
  const text = await response.text();
  const events = text.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => JSON.parse(l.slice(5)));
  expect(events.at(-1).type === "speech.audio.done", "no speech.audio.done");
  const audio = events.filter((e) => e.type === "speech.audio.delta").map((e) => Buffer.from(e.audio, "base64"));
  expect(Buffer.concat(audio).length > 24000, "too little audio");
});

await check("non-audio upload is a BadRequestError", async () => {
  try {
    await client.audio.transcriptions.create({ model: "whisper-1",
      file: await OpenAI.toFile(Buffer.from("just text ".repeat(50)), "notes.wav") });
    expect(false, "no error");
  } catch (error) {
    expect(error instanceof OpenAI.BadRequestError, `got ${error?.constructor?.name}`);
    expect(!/errno|invalid data found/i.test(error.message) && error.requestID, error.message);
  }
});

await check("unknown model is a NotFoundError", async () => {
  try {
    await client.audio.transcriptions.create({ model: "whisper-9", file: fs.createReadStream(audioPath) });
    expect(false, "no error");
  } catch (error) {
    expect(error instanceof OpenAI.NotFoundError, `got ${error?.constructor?.name}`);
  }
});

await check("chat with a stock model name and a tool message", async () => {
  const reply = await client.chat.completions.create({ model: "gpt-4o-mini", max_tokens: 8, messages: [
    { role: "user", content: "What is 2 + 2?" },
    { role: "assistant", content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "add", arguments: "{}" } }] },
    { role: "tool", tool_call_id: "call_1", content: "4" }] });
  const choice = reply.choices[0];
  expect(["stop", "length"].includes(choice.finish_reason), `finish ${choice.finish_reason}`);
  expect(choice.logprobs === null && choice.message.refusal === null, JSON.stringify(choice));
});

await check("chat stream with usage", async () => {
  const stream = await client.chat.completions.create({ model: "gpt-4o", max_tokens: 4, stream: true,
    stream_options: { include_usage: true }, messages: [{ role: "user", content: "Hi" }] });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(chunks.at(-1).usage.completion_tokens >= 1, "no usage");
});

console.log(JSON.stringify({ passed, failed }));
process.exit(failed.length ? 1 : 0);
