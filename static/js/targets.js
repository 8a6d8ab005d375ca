// The thread header's response-target chip (templates/lifecycle/_target_chip.html): the time left to the due
// moment, counted down in the browser so it needs no frame from the server; "late" once it has passed.
(function () {
  "use strict";

  function text(ms) {
    const minutes = Math.floor(Math.abs(ms) / 60000);
    let out = minutes >= 60 ? Math.floor(minutes / 60) + "h " + (minutes % 60) + "m" : minutes + "m";
    if (minutes >= 48 * 60) out = Math.floor(minutes / 1440) + "d " + (Math.floor(minutes / 60) % 24) + "h";
    return ms < 0 ? out + " late" : out + " left";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-target-due]").forEach((chip) => {
      const due = Date.parse(chip.getAttribute("data-target-due"));
      const left = chip.querySelector("[data-target-left]");
      if (Number.isNaN(due) || !left) return;
      const value = text(due - now);
      if (left.textContent !== value) left.textContent = value; // unchanged text: no mutation, no loop
      chip.classList.toggle("target-late", due - now < 0);
      chip.classList.toggle("target-soon", due - now >= 0 && due - now < 15 * 60000);
    });
  }

  tick();
  setInterval(tick, 15000);
  // The header is redrawn by live frames: count the new one down at once.
  new MutationObserver(tick).observe(document.body, { childList: true, subtree: true });
})();
