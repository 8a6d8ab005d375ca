// The settings pages: the hours editor's rows (one empty range per day is always there; filling it adds the
// next), clearing a range or a holiday, and the Reveal / Rotate buttons of a secret. The pages work without it.
(function () {
  "use strict";
  const form = document.getElementById("hours-form");
  if (form) {
    form.addEventListener("click", function (event) {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.classList.contains("range-clear")) {
        const row = button.closest(".hours-range");
        const ranges = row.parentElement;
        if (ranges.querySelectorAll(".hours-range").length > 1) row.remove();
        else row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      } else if (button.classList.contains("holiday-clear")) {
        button.closest("li").remove();
      } else if (button.id === "holiday-add") {
        const list = document.getElementById("holidays");
        const item = document.createElement("li");
        item.innerHTML = '<input type="date" name="holiday" aria-label="Add a date closed">';
        list.appendChild(item);
        item.querySelector("input").focus();
      }
    });
    // Typing into a day's last (empty) range offers another empty one below it.
    form.addEventListener("change", function (event) {
      const input = event.target;
      if (input.type === "checkbox") {
        input.closest("tr").classList.toggle("closed", !input.checked);
        return;
      }
      if (input.type !== "time") return;
      const ranges = input.closest(".hours-ranges");
      const rows = ranges.querySelectorAll(".hours-range");
      const last = rows[rows.length - 1];
      if (!last.contains(input)) return;
      const copy = last.cloneNode(true);
      const count = rows.length + 1;
      copy.querySelectorAll("input").forEach(function (field) {
        field.value = "";
        field.setAttribute("aria-label", field.getAttribute("aria-label").replace(/range \d+/, "range " + count));
      });
      const clear = copy.querySelector(".range-clear");
      clear.setAttribute("aria-label", clear.getAttribute("aria-label").replace(/range \d+/, "range " + count));
      ranges.appendChild(copy);
    });
    const errors = document.getElementById("hours-errors");
    if (errors) errors.focus();
  }
})();
