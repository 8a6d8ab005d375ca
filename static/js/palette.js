// The command palette (Ctrl+K or Cmd+K): macros on the open thread or the selected rows, the thread's
// priority, enrolling its customer in a sequence, and the pages. Everything it does goes through the same
// endpoints as the buttons.
(function () {
  "use strict";
  const dialog = document.getElementById("palette");
  const source = document.getElementById("palette-data");
  if (!dialog || !source) return;
  const data = JSON.parse(source.textContent);
  const input = dialog.querySelector("#palette-input");
  const list = dialog.querySelector("#palette-options");
  const status = dialog.querySelector("#palette-status");
  let shown = [];
  let active = 0;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function post(url, fields) {
    const body = new URLSearchParams();
    for (const [key, value] of Object.entries(fields)) {
      for (const item of [].concat(value)) body.append(key, item);
    }
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body,
      credentials: "same-origin",
    });
    let payload = {};
    try { payload = await response.json(); } catch (error) { payload = {}; }
    return { ok: response.ok, payload };
  }

  function selectedRows() {
    return Array.from(document.querySelectorAll(".row-select:checked")).map((box) => box.value);
  }

  async function run(url, fields) {
    status.textContent = "Working…";
    const { ok, payload } = await post(url, fields);
    if (!ok) {
      status.textContent = payload.error || payload.detail || "That did not work; nothing was changed.";
      return;
    }
    status.textContent = "Done.";
    window.location.reload();
  }

  function commands() {
    const result = [];
    const rows = selectedRows();
    const targets = rows.length ? rows : data.conversation ? [String(data.conversation)] : [];
    const where = rows.length ? `${rows.length} selected` : "this thread";
    if (targets.length) {
      for (const macro of data.macros) {
        result.push({
          label: `Apply macro: ${macro.name}`,
          hint: where,
          run: () => run(`/inbox/macros/${macro.id}/apply/`, { ids: targets }),
        });
      }
    }
    if (data.conversation && !rows.length) {
      for (const [value, name] of data.priorities) {
        result.push({
          label: `Set priority: ${name}`,
          hint: "this thread",
          run: () => run(`/inbox/${data.conversation}/priority/`, { priority: value }),
        });
      }
    }
    if (data.conversation && !rows.length) {
      for (const sequence of data.sequences || []) {
        result.push({
          label: `Enrol in sequence: ${sequence.name}`,
          hint: "this customer",
          run: () => run(`/inbox/${data.conversation}/sequences/`, { sequence: sequence.id }),
        });
      }
    }
    if (data.conversation && !rows.length) result.push(...threadActions());
    for (const link of data.links) {
      result.push({ label: `Go to ${link.name}`, hint: "", run: () => { window.location.href = link.url; } });
    }
    return result;
  }

  // The thread's own actions, read from its header and "More" menu so the palette and the buttons
  // always agree: a button is pressed, a list or a field is opened in the menu.
  function threadActions() {
    const found = [];
    const menu = window.hubMenu;
    const press = (button) => () => { dialog.close(); button.click(); };
    const seen = new Set();
    document.querySelectorAll("#thread-header .main-action button[name], #thread-menu button[name]").forEach((button) => {
      const label = button.textContent.trim();
      if (!label || seen.has(label)) return;
      seen.add(label);
      found.push({ label: `${label}`, hint: "this thread", run: press(button) });
    });
    const preset = document.querySelector("#thread-menu [data-snooze-preset]");
    if (preset) {
      for (const option of preset.options) {
        if (!option.value) continue;
        found.push({
          label: `Snooze: ${option.textContent}`,
          hint: "this thread",
          run: () => { dialog.close(); preset.value = option.value; preset.dispatchEvent(new Event("change", { bubbles: true })); },
        });
      }
    }
    const fields = [
      ["Assign to…", "#assign-select"],
      ["Move to team…", "#thread-menu select[name=team]"],
      ["Move the stage…", "#thread-menu select[name=stage]"],
      ["Snooze until…", "#snooze-until"],
      ["Go to a date…", "#thread-menu input[name=at]"],
    ];
    for (const [label, selector] of fields) {
      const field = document.querySelector(selector);
      if (field && menu) found.push({ label, hint: "this thread", run: () => { dialog.close(); menu.open(field); } });
    }
    const followups = document.getElementById("followups-open");
    if (followups) found.push({ label: "Follow-ups…", hint: "this thread", run: () => { dialog.close(); followups.click(); } });
    return found;
  }

  function render() {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    shown = commands().filter((command) => words.every((word) => command.label.toLowerCase().includes(word)));
    active = Math.min(active, Math.max(shown.length - 1, 0));
    list.replaceChildren();
    shown.forEach((command, index) => {
      const item = document.createElement("li");
      item.id = `palette-option-${index}`;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", index === active ? "true" : "false");
      item.className = "palette-option";
      const label = document.createElement("span");
      label.textContent = command.label;
      item.append(label);
      if (command.hint) {
        const hint = document.createElement("span");
        hint.className = "palette-hint";
        hint.textContent = command.hint;
        item.append(hint);
      }
      item.addEventListener("mousedown", (event) => { event.preventDefault(); command.run(); });
      list.append(item);
    });
    if (!shown.length) {
      const empty = document.createElement("li");
      empty.className = "palette-empty";
      empty.textContent = data.macros.length ? "Nothing matches." : "Nothing matches. Admins make macros in Automation.";
      list.append(empty);
    }
    input.setAttribute("aria-activedescendant", shown.length ? `palette-option-${active}` : "");
  }

  function open(filter) {
    input.value = filter || "";
    status.textContent = "";
    active = 0;
    render();
    if (!dialog.open) dialog.showModal();
    input.focus();
  }

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      open("");
    }
  });
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-palette]");
    if (opener) open(opener.getAttribute("data-palette"));
  });
  input.addEventListener("input", () => { active = 0; render(); });
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!shown.length) return;
      active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (shown[active]) shown[active].run();
    }
  });
})();
