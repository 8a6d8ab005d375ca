// The composer's files: picked with the Attach button, dropped on the composer or pasted into the text box.
// They show as chips (name, size, remove) and travel in the form's `files` input, so the reply posts them
// with the text; the hub checks each channel's limits and answers with the reason, and nothing is cleared
// until a send succeeds.
(function () {
  "use strict";
  const form = document.getElementById("composer");
  if (!form) return;
  const input = document.getElementById("composer-file-input");
  const list = document.getElementById("composer-files");
  const button = document.getElementById("attach-button");
  const text = document.getElementById("reply-body");
  const status = document.getElementById("composer-files-status");
  let files = [];

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1048576) return Math.round(bytes / 1024) + " KB";
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function sync() {
    // The input carries exactly the chips, so FormData(form) sends what the agent sees.
    const transfer = new DataTransfer();
    files.forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
    text.required = files.length === 0;  // a file alone is a message
  }

  function render() {
    list.querySelectorAll("img").forEach((img) => URL.revokeObjectURL(img.src));
    list.replaceChildren();
    files.forEach((file, index) => {
      const chip = document.createElement("li");
      chip.className = "file-chip";
      if (/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
        const thumb = document.createElement("img");
        thumb.src = URL.createObjectURL(file);
        thumb.alt = "";
        chip.appendChild(thumb);
      }
      const name = document.createElement("span");
      name.className = "file-chip-name";
      name.textContent = file.name;
      name.title = file.name;
      const meta = document.createElement("span");
      meta.className = "file-chip-size";
      meta.textContent = size(file.size);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "file-chip-remove";
      remove.setAttribute("aria-label", "Remove " + file.name);
      remove.textContent = "×";
      remove.addEventListener("click", () => {
        files.splice(index, 1);
        update("Removed " + file.name + ".");
        const next = list.querySelectorAll(".file-chip-remove")[Math.min(index, files.length - 1)];
        (next || button).focus();
      });
      chip.append(name, meta, remove);
      list.appendChild(chip);
    });
    list.hidden = files.length === 0;
  }

  function update(message) {
    sync();
    render();
    if (message) status.textContent = message;
  }

  function add(picked) {
    const added = [];
    Array.from(picked || []).forEach((file) => {
      const known = files.some((f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified);
      if (!known) { files.push(file); added.push(file.name); }
    });
    if (added.length) update(added.length === 1 ? "Attached " + added[0] + "." : "Attached " + added.length + " files.");
  }

  button.addEventListener("click", () => input.click());
  // A cancelled file dialog may empty the input: the chips are the truth, written back before each send.
  form.addEventListener("submit", sync);
  input.addEventListener("change", () => {
    const picked = Array.from(input.files || []);
    add(picked.filter((file) => !files.includes(file)));
    sync();
  });
  form.addEventListener("dragover", (event) => {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    form.classList.add("dropping");
  });
  form.addEventListener("dragleave", (event) => {
    if (!form.contains(event.relatedTarget)) form.classList.remove("dropping");
  });
  form.addEventListener("drop", (event) => {
    form.classList.remove("dropping");
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    add(event.dataTransfer.files);
  });
  text.addEventListener("paste", (event) => {
    const pasted = event.clipboardData && event.clipboardData.files;
    if (!pasted || !pasted.length) return;
    event.preventDefault();  // a screenshot, not its file name as text
    add(pasted);
  });

  // agent.js calls this once the hub took the reply.
  window.hubComposerFiles = {
    clear() { files = []; update(""); },
    count() { return files.length; },
  };
})();
