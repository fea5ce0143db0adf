// The transmodal web page: upload, per-page progress (server-sent events), before/after, downloads,
// fixing a region's translation by hand, and speech for speech flows. Plain JavaScript, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
let job = null; // {id, pages: [names], results: {index: result}}
let selected = null;

async function apiError(response) {
  try {
    const body = await response.json();
    const stage = body.stage ? ` [${body.stage}]` : "";
    return `${response.status}${stage}: ${body.error || body.detail || JSON.stringify(body)}`;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// What the Flow takes: images (and books) or speech.
fetch("/api/info").then((r) => r.json()).then((info) => {
  if (info.flow) $("flow-info").textContent = `Flow: ${info.flow} (${(info.executors || []).join(" → ")})`;
  $("speech-panel").hidden = info.input !== "audio";
  $("images-panel").hidden = info.input === "audio";
});
for (const code of ["en", "es", "fr", "de", "it", "pt", "ca", "gl", "eo", "eu", "ja", "zh"]) {
  const option = document.createElement("option");
  option.value = code;
  $("languages").append(option);
}

// Choosing and dropping files ------------------------------------------------------------------------
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  $("files").files = event.dataTransfer.files;
  describeChoice();
});
$("files").addEventListener("change", describeChoice);
function describeChoice() {
  const names = Array.from($("files").files).map((file) => file.name);
  $("chosen").textContent = names.length ? `${names.length} file(s): ${names.join(", ")}` : "";
}

// A job: upload, then one event per finished page ----------------------------------------------------
$("job-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  const files = Array.from($("files").files);
  if (!files.length) return showError("Choose images or a comic first.");
  const form = new FormData();
  for (const file of files) form.append("files", file, file.name);
  for (const field of ["source", "target", "glossary"]) {
    if ($(field).value.trim()) form.append(field, $(field).value.trim());
  }
  $("start").disabled = true;
  const response = await fetch("/api/jobs", { method: "POST", body: form });
  if (!response.ok) {
    $("start").disabled = false;
    return showError(await apiError(response));
  }
  const created = await response.json();
  job = { id: created.id, pages: created.pages, results: {} };
  showPages();
  follow(created.events);
});

function showPages() {
  selected = null;
  $("workspace").hidden = false;
  $("progress").hidden = false;
  $("book-link").hidden = true;
  $("pages").replaceChildren(...job.pages.map((name, index) => {
    const item = document.createElement("li");
    item.dataset.index = index;
    item.textContent = name;
    item.addEventListener("click", () => select(index));
    return item;
  }));
  progress();
}

function progress() {
  const done = Object.keys(job.results).length;
  $("progress-bar").max = job.pages.length;
  $("progress-bar").value = done;
  $("progress-text").textContent = `${done} of ${job.pages.length} pages`;
}

function follow(url) {
  const events = new EventSource(url);
  events.addEventListener("page", (message) => {
    const page = JSON.parse(message.data);
    job.results[page.index] = page;
    const item = $("pages").children[page.index];
    item.classList.add(page.ok ? "done" : "failed");
    if (!page.ok) {
      const why = document.createElement("span");
      why.className = "why";
      why.textContent = page.error;
      item.append(why);
    }
    progress();
    if (selected === null && page.ok) select(page.index);
  });
  events.addEventListener("done", (message) => {
    const done = JSON.parse(message.data);
    events.close();
    $("start").disabled = false;
    if (done.book) {
      $("book-link").href = `/api/jobs/${job.id}/book`;
      $("book-link").download = done.book;
      $("book-link").textContent = `Download ${done.book}`;
      $("book-link").hidden = false;
    }
    const failed = Object.entries(done.failed || {});
    if (failed.length) showError(failed.map(([name, why]) => `${name}: ${why}`).join("\n"));
    document.body.dataset.job = "done";
  });
  events.addEventListener("error", (message) => {
    if (message.data) {
      events.close();
      $("start").disabled = false;
      showError(JSON.parse(message.data).message);
      document.body.dataset.job = "failed";
    } // else: the connection dropped; EventSource reconnects and resumes (Last-Event-ID)
  });
}

// One page: before/after, download, regions ----------------------------------------------------------
async function select(index) {
  selected = index;
  for (const item of $("pages").children) item.classList.toggle("selected", Number(item.dataset.index) === index);
  const page = job.results[index];
  if (!page || !page.ok) return;
  const stamp = Date.now(); // a re-rendered page has the same address: do not show the cached one
  $("after").src = `/api/jobs/${job.id}/pages/${index}?t=${stamp}`;
  $("before").src = `/api/jobs/${job.id}/pages/${index}/original`;
  $("page-link").href = `/api/jobs/${job.id}/pages/${index}`;
  $("page-link").download = job.pages[index].replace(/\.[^.]+$/, "") + ".png";
  const response = await fetch(`/api/jobs/${job.id}/pages/${index}/regions`);
  if (response.ok) showRegions(await response.json());
}

$("slider").addEventListener("input", () => {
  $("before").style.clipPath = `inset(0 ${100 - $("slider").value}% 0 0)`;
});

function showRegions(result) {
  const flags = new Set(result.flags);
  const rows = result.regions.map((region, number) => {
    region.flags.forEach((flag) => flags.add(flag));
    const row = document.createElement("tr");
    const cells = [String(number + 1), region.text].map((text) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      return cell;
    });
    const edit = document.createElement("td");
    const input = document.createElement("input");
    input.value = region.translation || "";
    input.dataset.region = number;
    input.dataset.original = input.value;
    input.addEventListener("input", () => { $("render").disabled = false; });
    edit.append(input);
    const flagCell = document.createElement("td");
    for (const flag of region.flags) {
      const badge = document.createElement("span");
      badge.className = "flag";
      badge.textContent = flag;
      flagCell.append(badge);
    }
    row.append(...cells, edit, flagCell);
    return row;
  });
  $("regions").tBodies[0].replaceChildren(...rows);
  $("page-flags").textContent = flags.size ? `check: ${Array.from(flags).join(", ")}` : "";
  $("render").disabled = true;
}

$("render").addEventListener("click", async () => {
  const translations = {};
  for (const input of $("regions").querySelectorAll("input")) {
    if (input.value !== input.dataset.original) translations[input.dataset.region] = input.value;
  }
  $("render").disabled = true;
  const response = await fetch(`/api/jobs/${job.id}/pages/${selected}/render`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ translations }),
  });
  if (!response.ok) return showError(await apiError(response));
  select(selected);
});

// Speech (speech flows): record or choose a recording, play the result -------------------------------
let recorded = null;
$("audio-file").addEventListener("change", () => {
  recorded = $("audio-file").files[0] || null;
  $("send-audio").disabled = !recorded;
});

$("record").addEventListener("click", async () => {
  if ($("record").dataset.recording) return $("record").stop();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((track) => track.stop());
    // Browsers record WebM/Opus, which the recogniser does not read: decoded here and sent as WAV.
    const decoded = await new AudioContext().decodeAudioData(await new Blob(chunks).arrayBuffer());
    recorded = new File([wav(decoded)], "recording.wav", { type: "audio/wav" });
    $("send-audio").disabled = false;
    $("record").textContent = "Record";
    delete $("record").dataset.recording;
  };
  recorder.start();
  $("record").dataset.recording = "1";
  $("record").textContent = "Stop";
  $("record").stop = () => recorder.stop();
});

function wav(buffer) {
  const samples = buffer.getChannelData(0);
  const bytes = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, value) => { for (let i = 0; i < value.length; i++) bytes.setUint8(offset + i, value.charCodeAt(i)); };
  text(0, "RIFF"); bytes.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); bytes.setUint32(16, 16, true); bytes.setUint16(20, 1, true); bytes.setUint16(22, 1, true);
  bytes.setUint32(24, buffer.sampleRate, true); bytes.setUint32(28, buffer.sampleRate * 2, true);
  bytes.setUint16(32, 2, true); bytes.setUint16(34, 16, true);
  text(36, "data"); bytes.setUint32(40, samples.length * 2, true);
  samples.forEach((sample, i) => bytes.setInt16(44 + i * 2, Math.max(-1, Math.min(1, sample)) * 0x7fff, true));
  return bytes.buffer;
}

$("send-audio").addEventListener("click", async () => {
  showError("");
  const form = new FormData();
  form.append("audio", recorded, recorded.name);
  for (const field of ["source", "target"]) {
    const value = $(`speech-${field}`).value.trim();
    if (value) form.append(field, value);
  }
  $("send-audio").disabled = true;
  const response = await fetch("/api/run.json", { method: "POST", body: form });
  $("send-audio").disabled = false;
  if (!response.ok) return showError(await apiError(response));
  const result = await response.json();
  $("speech-text").textContent = [result.text, result.translation].filter(Boolean).join(" → ");
  if (result.audio) {
    $("speech-result").src = `data:${result.audio_type};base64,${result.audio}`;
    $("speech-result").hidden = false;
    $("speech-result").play().catch(() => {});
  }
});
