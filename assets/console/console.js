// The console's one script, loaded from the page's own origin (the Content-Security-Policy
// allows no inline script). Every page works without it except the upload page, whose
// per-file progress needs XMLHttpRequest; it only enhances: copy buttons, drag and drop,
// the preset preview.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Copy buttons: <button data-copy="text">. The clipboard API needs a secure context
// (https or localhost); elsewhere the text is selected for the user to copy.
function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const label = button.textContent;
    let restore = null;
    button.addEventListener("click", async () => {
      const text = button.dataset.copy;
      clearTimeout(restore);
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (_) {
        const field = document.getElementById(button.dataset.copyField || "");
        if (field) { field.focus(); field.select(); }
        button.textContent = "Press Ctrl+C to copy";
      }
      restore = setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
}

function describeFailure(xhr) {
  try {
    const body = JSON.parse(xhr.responseText);
    if (body && body.message) {
      const details = (body.details || []).map((d) => d.message)
        .filter((message) => message && !body.message.includes(message));
      return details.length ? body.message + " " + details.join(" ") : body.message;
    }
  } catch (_) { /* not JSON: fall through */ }
  return "The server answered " + xhr.status + ".";
}

// One file's upload, with its own progress bar and outcome.
function uploadOne(form, file, list) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = file.name + " ";
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", "Upload progress of " + file.name);
  const outcome = document.createElement("p");
  outcome.setAttribute("role", "status");
  outcome.textContent = "Uploading…";
  item.append(name, progress, outcome);
  list.append(item);

  const subject = form.elements.subject.value.trim();
  let url = form.dataset.endpoint;
  if (subject) url += "?subject=" + encodeURIComponent(subject);
  const body = new FormData();
  body.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.setRequestHeader("X-CSRF-Token", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
  });
  xhr.upload.addEventListener("load", () => { outcome.textContent = "Sent; the server is checking it…"; });
  return new Promise((resolve) => {
    xhr.addEventListener("load", () => {
      progress.value = 100;
      if (xhr.status === 201) {
        const image = JSON.parse(xhr.responseText);
        outcome.className = "stored";
        outcome.textContent = "Stored. ";
        const link = document.createElement("a");
        link.href = form.dataset.imagePage + image.id;
        link.textContent = "Open " + file.name;
        outcome.append(link);
      } else {
        outcome.className = "failed";
        outcome.textContent = "Refused: " + describeFailure(xhr);
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      outcome.className = "failed";
      outcome.textContent = "The upload could not reach the server.";
      resolve();
    });
    xhr.send(body);
  });
}

function setUpUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = form.elements.files;
  const list = document.getElementById("upload-results");
  const drop = document.getElementById("drop-zone");
  const chosen = document.getElementById("chosen-files");
  const showChosen = () => {
    const names = Array.from(input.files).map((f) => f.name);
    chosen.textContent = names.length ? names.length + " chosen: " + names.join(", ") : "No files chosen.";
  };
  input.addEventListener("change", showChosen);
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showChosen();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files);
    if (!files.length) {
      chosen.textContent = "Choose at least one file first.";
      input.focus();
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    // Two at a time: progress stays readable and the server is not flooded.
    const queue = files.slice();
    const worker = async () => {
      while (queue.length) await uploadOne(form, queue.shift(), list);
    };
    await Promise.all([worker(), worker()]);
    button.disabled = false;
    input.value = "";
    showChosen();
  });
}

// The preset form's preview follows its fields as they change, once they are valid.
function setUpPresetPreview() {
  const form = document.getElementById("preset-form");
  const preview = document.getElementById("preset-preview");
  if (!form || !preview || !preview.dataset.base) return;
  const update = () => {
    const params = new URLSearchParams();
    for (const [field, param] of [["width", "w"], ["height", "h"], ["fit", "fit"], ["format", "format"], ["quality", "q"]]) {
      const element = form.elements[field];
      if (!element || !element.value) continue;
      if (element.type === "number" && !element.checkValidity()) return;
      params.set(param, element.value);
    }
    if (!params.has("w") && !params.has("h")) return;
    const chosen = form.elements.image && form.elements.image.selectedOptions[0];
    const base = chosen && chosen.dataset.base ? chosen.dataset.base : preview.dataset.base;
    preview.src = base + "?" + params.toString();
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
}

// A signed URL is checked as a stranger would use it: without the session's cookie.
async function checkSignedUrl() {
  const check = document.getElementById("signed-check");
  if (!check) return;
  try {
    const response = await fetch(check.dataset.url, { credentials: "omit", cache: "no-store" });
    const body = await response.blob();
    check.textContent = response.ok
      ? "Works without a session: " + response.status + ", " + response.headers.get("Content-Type") + ", " + body.size + " bytes."
      : "Refused without a session: " + response.status + ".";
    check.className = response.ok ? "stored" : "failed";
  } catch (_) {
    check.textContent = "The URL could not be checked from this page.";
  }
}

setUpCopyButtons();
checkSignedUrl();
setUpUpload();
setUpPresetPreview();
