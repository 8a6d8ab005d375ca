// The top bar's alerts tray: a bell with a count; funnel leaks go in here, never over the page.
// The server draws the open ones; agent.js adds live ones (leak.detected) and removes plugged ones.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const button = $("tray-button");
  const tray = $("tray");
  const list = $("alerts");
  if (!button || !tray || !list) return;

  function recount() {
    const count = list.querySelectorAll(".alert").length;
    const badge = $("tray-count");
    badge.textContent = String(count);
    badge.dataset.count = String(count);
    badge.hidden = count === 0;
    $("tray-empty").hidden = count > 0;
    button.setAttribute("aria-label", count ? "Alerts: " + count : "Alerts: none");
  }

  function setOpen(open, returnFocus) {
    tray.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) {
      const first = tray.querySelector("a, button");
      if (first) first.focus();
    } else if (returnFocus) button.focus();
  }

  function add(alert, conversation) {
    const kind = String(alert.kind || "");
    const id = Number(conversation) || 0;
    const keys = dismissed();
    if (keys.delete(id + ":" + kind)) {
      try { sessionStorage.setItem(DISMISSED, JSON.stringify([...keys])); } catch { /* ignore */ }
    }
    const old = list.querySelector('.alert[data-conversation="' + id + '"][data-kind="' + CSS.escape(kind) + '"]');
    if (old) old.remove();
    // Text only (textContent): an alert's words come from customers' names.
    const item = document.createElement("li");
    item.className = "alert";
    item.dataset.conversation = String(id);
    item.dataset.kind = kind;
    const title = document.createElement("strong");
    title.textContent = String(alert.title || "Needs attention");
    const text = document.createElement("p");
    text.textContent = String(alert.text || "");
    item.append(title, text);
    if (typeof alert.url === "string" && alert.url.startsWith("/inbox/")) {
      const link = document.createElement("a");
      link.href = alert.url;
      link.textContent = "Open the thread";
      item.append(link);
    }
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "link tray-dismiss";
    dismiss.textContent = "Dismiss";
    item.append(dismiss);
    list.prepend(item);
    recount();
  }

  function plug(conversation, kind) {
    let selector = '.alert[data-conversation="' + Number(conversation) + '"]';
    if (kind) selector += '[data-kind="' + CSS.escape(String(kind)) + '"]';
    list.querySelectorAll(selector).forEach((el) => el.remove());
    recount();
  }

  button.addEventListener("click", () => setOpen(tray.hidden, false));
  tray.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); setOpen(false, true); }
  });
  // A dismissed alert stays dismissed for this browser session, though the page draws open leaks again.
  const DISMISSED = "hub.dismissedAlerts";
  function dismissed() {
    try { return new Set(JSON.parse(sessionStorage.getItem(DISMISSED) || "[]")); } catch { return new Set(); }
  }
  const keyOf = (item) => item.dataset.conversation + ":" + item.dataset.kind;
  const gone = dismissed();
  list.querySelectorAll(".alert").forEach((item) => { if (gone.has(keyOf(item))) item.remove(); });

  list.addEventListener("click", (event) => {
    const dismiss = event.target.closest(".tray-dismiss");
    if (!dismiss) return;
    const item = dismiss.closest(".alert");
    const keys = dismissed();
    keys.add(keyOf(item));
    try { sessionStorage.setItem(DISMISSED, JSON.stringify([...keys].slice(-200))); } catch { /* not remembered */ }
    item.remove();
    recount();
    if (!list.querySelector(".alert")) setOpen(false, true);
  });
  document.addEventListener("mousedown", (event) => {
    if (!tray.hidden && !tray.contains(event.target) && !button.contains(event.target)) setOpen(false, false);
  });
  recount();
  window.hubTray = { add, plug, open: () => setOpen(true, false) };
})();
