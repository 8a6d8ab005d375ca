// The composer's WhatsApp templates: the chosen template's form is shown, and its preview follows the values.
(function () {
  "use strict";
  const picker = document.getElementById("template-picker");
  if (!picker) return;
  const choice = document.getElementById("template-choice");
  const forms = Array.from(picker.querySelectorAll(".template-form"));

  function render(form) {
    const preview = form.querySelector(".template-preview");
    const values = {};
    form.querySelectorAll("input[name^=var_]").forEach((input) => { values[input.name.slice(4)] = input.value; });
    preview.textContent = preview.dataset.body.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name) => values[name] || whole);
  }

  choice.addEventListener("change", () => {
    forms.forEach((form) => { form.hidden = form.dataset.template !== choice.value; });
  });
  forms.forEach((form) => {
    form.addEventListener("input", () => render(form));
    render(form);
  });
})();
