// "Send later": the composer's Later… button opens a time picker (in the agent's own time zone, named beside
// it); Schedule posts the reply with `send_later` and `send_at`, and the hub schedules it as a follow-up, which beat sends when
// it is due and which the agent cancels from the thread (the scheduled entry's Cancel, or More → Follow-ups).
(function () {
  "use strict";
  const toggle = document.getElementById("send-later-toggle");
  const panel = document.getElementById("send-later");
  const input = document.getElementById("send-at");
  if (!toggle || !panel || !input) return;
  const zone = document.getElementById("send-later-zone");
  if (zone) zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "";

  function local(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }
  function open(show) {
    panel.hidden = !show;
    toggle.setAttribute("aria-expanded", String(show));
    if (show) {
      if (!input.value) {
        const soon = new Date(Date.now() + 60 * 60 * 1000);  // an hour from now, a starting point
        soon.setSeconds(0, 0);
        input.value = local(soon);
      }
      input.min = local(new Date());
      input.focus();
    }
  }
  toggle.addEventListener("click", () => open(panel.hidden));
  const flag = document.getElementById("send-later-flag");
  document.getElementById("send-later-submit").addEventListener("click", () => {
    // One submit button in the composer (Send); Schedule marks the form and submits it the same way.
    flag.value = "1";
    try { panel.closest("form").requestSubmit(); } finally { flag.value = ""; }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { open(false); toggle.focus(); }
  });
  window.hubSendLater = {
    done() { if (!panel.hidden) { input.value = ""; open(false); } },
  };
})();
