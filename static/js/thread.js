// The open thread's furniture: the "More" menu under the one-line header, the customer panel's toggle
// and the follow-ups dialog. Live updates (agent.js) refill the menu's header part; the menu stays open.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const button = $("more-button");
  const menu = $("thread-menu");
  const FOCUSABLE = "button:not([disabled]), select:not([disabled]), input:not([type=hidden]):not([disabled]), textarea, a[href]";

  function items() {
    return [...menu.querySelectorAll(FOCUSABLE)].filter((el) => el.offsetParent !== null);
  }

  function open(target) {
    if (!menu) return;
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    const first = target || items()[0];
    if (first) first.focus();
  }

  function close(returnFocus = true) {
    if (!menu || menu.hidden) return;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (returnFocus) button.focus();
  }

  if (button && menu) {
    button.addEventListener("click", () => (menu.hidden ? open() : close()));
    button.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        open();
        const all = items();
        if (event.key === "ArrowUp" && all.length) all[all.length - 1].focus();
      }
    });
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
        return;
      }
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp" && event.key !== "Home" && event.key !== "End") return;
      // Arrows move between the menu's controls, except in a text or date box where they move the caret
      // or the date; a list opens with Enter, Space or Alt+Down and is changed there.
      if (event.altKey || event.target.matches("input:not([type=radio]):not([type=checkbox]), textarea")) return;
      event.preventDefault();
      const all = items();
      const at = all.indexOf(event.target);
      let next = 0;
      if (event.key === "End") next = all.length - 1;
      else if (event.key === "ArrowDown") next = (at + 1) % all.length;
      else if (event.key === "ArrowUp") next = (at - 1 + all.length) % all.length;
      if (all[next]) all[next].focus();
    });
    // A click elsewhere closes it; a dialog opened from it (the date picker's, a confirm) does not.
    document.addEventListener("mousedown", (event) => {
      if (menu.hidden || menu.contains(event.target) || button.contains(event.target)) return;
      close(false);
    });
  }

  // --- the customer panel: shown or hidden, remembered on this browser ---------------------------
  const KEY = "hub.customerPanel";
  const layout = document.querySelector(".inbox-layout");
  const toggle = $("panel-toggle");
  function showPanel(shown) {
    const panel = $("contact-panel");
    if (!layout || !panel || !toggle) return;
    layout.classList.toggle("panel-collapsed", !shown);
    panel.hidden = !shown;
    toggle.setAttribute("aria-expanded", String(shown));
    toggle.setAttribute("aria-pressed", String(shown));
  }
  // A phone shows one screen at a time: the list, the views, the thread or the customer (data-phone-screen).
  const phone = window.matchMedia("(max-width: 900px)");
  function phoneScreen(name) {
    if (!layout) return;
    if (name) layout.dataset.phoneScreen = name; else delete layout.dataset.phoneScreen;
    const views = $("views-toggle");
    if (views) views.setAttribute("aria-expanded", String(name === "views"));
    window.scrollTo(0, 0);
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-phone-screen]");
    if (button) phoneScreen(button.dataset.phoneScreen);
  });
  if (toggle) {
    let stored = null;
    try { stored = localStorage.getItem(KEY); } catch { /* storage may be off */ }
    showPanel(stored !== "hidden");
    toggle.addEventListener("click", () => {
      if (phone.matches) { showPanel(true); phoneScreen("panel"); return; }
      const shown = toggle.getAttribute("aria-expanded") !== "true";
      showPanel(shown);
      try { localStorage.setItem(KEY, shown ? "shown" : "hidden"); } catch { /* not remembered */ }
    });
  }
  // agent.js replaces the panel on live updates: the new one keeps the agent's choice.
  window.hubPanelState = () => (toggle ? toggle.getAttribute("aria-expanded") === "true" : true);

  // --- follow-ups: a dialog opened from the menu; its count shows on the menu item -----------------
  const dialog = $("followups-dialog");
  const opener = $("followups-open");
  if (dialog && opener) {
    const count = dialog.querySelectorAll("[data-followup]").length;
    const chip = $("followups-count");
    if (chip && count) { chip.textContent = String(count); chip.hidden = false; }
    if (count && button) button.dataset.badge = String(count);
    opener.addEventListener("click", () => {
      close(false);
      dialog.showModal();
      const first = dialog.querySelector("textarea, input:not([type=hidden]), select");
      if (first) first.focus();
    });
    dialog.addEventListener("close", () => { if (button) button.focus(); });
    // Scheduling or cancelling reloads the thread: the dialog comes back open where the agent left it.
    const FLAG = "hub.followupsOpen";
    dialog.addEventListener("submit", (event) => {
      if (event.target.getAttribute("method") !== "dialog") sessionStorage.setItem(FLAG, document.body.dataset.conversation || "");
    });
    if (sessionStorage.getItem(FLAG) === document.body.dataset.conversation) {
      sessionStorage.removeItem(FLAG);
      dialog.showModal();
    }
  }

  window.hubMenu = { open, close, get isOpen() { return !!menu && !menu.hidden; } };
})();
