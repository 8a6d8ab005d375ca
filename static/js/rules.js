// The automation page: condition and action rows, serialised into the JSON textareas the form posts
// (`conditions`, `actions`). Without this script the textareas are the form's fields as they are.
(function () {
  "use strict";
  var source = document.getElementById("rules-catalog");
  if (!source) return;
  var catalog = JSON.parse(source.textContent);
  var choices = catalog.choices;
  var fields = {};
  catalog.conditions.forEach(function (c) { fields[c.field] = c; });
  var actionKinds = {};
  catalog.actions.forEach(function (a) { actionKinds[a.type] = a; });
  var ARG_NAMES = {
    agent: "Agent", team: "Team", label: "Label", stage: "Stage", priority: "Priority",
    status: "Status", minutes: "Minutes", text: "Text", endpoint: "Webhook endpoint",
    sequence: "Sequence"
  };
  var counter = 0;

  // The catalog's help is written for the API too: its argument names and ids mean nothing in a form.
  function plain(help) {
    return help.replace(/\s*\([^)]*(`|\bid\b)[^)]*\)/g, "");
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // A labelled control: the label is visible above it (small), so every input has one.
  function labelled(text, control) {
    var id = "rr-" + (++counter);
    control.id = id;
    return el("label", { className: "row-field", "for": id }, [el("span", { text: text }), control]);
  }

  function select(options, value) {
    var node = el("select");
    options.forEach(function (option) {
      var item = el("option", { value: String(option[0]), text: option[1] });
      if (String(option[0]) === String(value)) item.selected = true;
      node.appendChild(item);
    });
    node._options = options;
    return node;
  }

  // The typed value of a select (ids stay numbers, keys stay strings).
  function selected(node) {
    var options = node._options || [];
    for (var i = 0; i < options.length; i++) {
      if (String(options[i][0]) === node.value) return options[i][0];
    }
    return node.value;
  }

  function removeButton(row, what, editor) {
    var button = el("button", { type: "button", className: "secondary row-remove", text: "Remove" });
    button.appendChild(el("span", { className: "visually-hidden", text: " this " + what }));
    button.addEventListener("click", function () { row.remove(); editor._sync(); });
    return button;
  }

  // --- conditions ---------------------------------------------------------------------------------------
  function conditionRow(editor, data) {
    var row = el("div", { className: "row-item condition-row" });
    var fieldSelect = select(catalog.conditions.map(function (c) { return [c.field, c.name]; }), data.field);
    var controls = el("div", { className: "row-controls" });
    row.appendChild(controls);
    controls.appendChild(labelled("Field", fieldSelect));
    var dynamic = el("div", { className: "row-dynamic" });
    controls.appendChild(dynamic);
    var help = el("p", { className: "row-help muted" });
    row.appendChild(help);
    row.appendChild(removeButton(row, "condition", editor));

    function build(values) {
      dynamic.innerHTML = "";
      var field = fields[fieldSelect.value];
      help.textContent = plain(field.help);
      var op = select(field.ops, values.op);
      dynamic.appendChild(labelled("Test", op));
      var valueBox = el("div", { className: "row-value" });
      dynamic.appendChild(valueBox);
      var read;
      function drawValue() {
        valueBox.innerHTML = "";
        var opValue = op.value;
        if (field.kind === "none" || opValue === "is_empty") {
          read = function () { return {}; };
          return;
        }
        if (field.kind === "attribute") {
          var key = el("input", { type: "text", maxlength: "100", value: values.key || "" });
          valueBox.appendChild(labelled("Attribute key", key));
          var attrValue = null;
          if (opValue !== "is_set") {
            attrValue = el("input", { type: "text", maxlength: "200", value: values.value == null ? "" : values.value });
            valueBox.appendChild(labelled("Value", attrValue));
          }
          read = function () {
            var out = { key: key.value.trim() };
            if (attrValue) out.value = attrValue.value;
            return out;
          };
        } else if (field.kind === "text") {
          var text = el("input", { type: "text", maxlength: "500", value: values.value || "" });
          valueBox.appendChild(labelled(opValue === "matches" ? "Pattern (RE2)" : "Text", text));
          read = function () { return { value: text.value }; };
        } else if (field.kind === "number") {
          var score = field.field === "lead_score";  // points may be negative; minutes may not
          var number = el("input", { type: "number", min: score ? "-10000" : "0", max: score ? "10000" : "525600", step: "1", value: values.value == null ? (score ? "50" : "60") : values.value });
          valueBox.appendChild(labelled(score ? "Points" : "Minutes", number));
          read = function () { return { value: parseInt(number.value, 10) || 0 }; };
        } else if (field.kind === "bool") {
          var yesNo = select([["true", "Yes"], ["false", "No"]], values.value === false ? "false" : "true");
          valueBox.appendChild(labelled("Value", yesNo));
          read = function () { return { value: yesNo.value === "true" }; };
        } else {
          var options = choices[field.field] || [];
          var pick = options.length ? select(options, values.value) : select([["", "None to choose from yet"]], "");
          valueBox.appendChild(labelled("Value", pick));
          read = function () { return { value: selected(pick) }; };
        }
        valueBox.querySelectorAll("input, select").forEach(function (input) {
          input.addEventListener("input", editor._sync);
          input.addEventListener("change", editor._sync);
        });
      }
      op.addEventListener("change", function () { drawValue(); editor._sync(); });
      drawValue();
      row._read = function () {
        var out = { field: field.field, op: op.value };
        var extra = read();
        Object.keys(extra).forEach(function (key) { out[key] = extra[key]; });
        return out;
      };
    }
    fieldSelect.addEventListener("change", function () { build({}); editor._sync(); });
    build(data);
    row.addEventListener("change", editor._sync);
    return row;
  }

  // --- actions ------------------------------------------------------------------------------------------
  function actionRow(editor, data, macro) {
    var row = el("div", { className: "row-item action-row" });
    var kinds = catalog.actions.filter(function (a) {
      return !macro || catalog.macro_actions.indexOf(a.type) !== -1;
    });
    var typeSelect = select(kinds.map(function (a) { return [a.type, a.name]; }), data.type);
    var controls = el("div", { className: "row-controls" });
    row.appendChild(controls);
    controls.appendChild(labelled("Action", typeSelect));
    var dynamic = el("div", { className: "row-dynamic" });
    controls.appendChild(dynamic);
    var help = el("p", { className: "row-help muted" });
    row.appendChild(help);
    row.appendChild(removeButton(row, "action", editor));

    function build(values) {
      dynamic.innerHTML = "";
      var kind = actionKinds[typeSelect.value];
      help.textContent = plain(kind.help);
      var readers = {};
      var minutesField = null;
      kind.args.forEach(function (arg) {
        var control;
        if (arg === "text") {
          control = el("textarea", { rows: "3", maxlength: "1600" });
          control.value = values.text || "";
          readers.text = function () { return control.value; };
        } else if (arg === "minutes") {
          control = el("input", { type: "number", min: "1", max: "43200", step: "1", value: values.minutes || "60" });
          readers.minutes = function () { return parseInt(control.value, 10) || 0; };
        } else {
          var key = arg === "status" ? "status" : arg;
          var options = choices[key] || [];
          control = options.length ? select(options, values[arg]) : select([["", arg === "endpoint" ? "No endpoints yet: add one on the webhooks page" : "None to choose from yet"]], "");
          readers[arg] = function () { return selected(control); };
        }
        var wrapper = labelled(ARG_NAMES[arg] || arg, control);
        if (arg === "text") wrapper.classList.add("row-field-wide");
        if (arg === "minutes") minutesField = wrapper;
        dynamic.appendChild(wrapper);
        control.addEventListener("input", editor._sync);
        control.addEventListener("change", editor._sync);
      });
      function snoozeOnly() {
        if (!minutesField) return;
        var status = dynamic.querySelector("select");
        minutesField.hidden = !(status && status.value === "snoozed");
      }
      dynamic.addEventListener("change", snoozeOnly);
      snoozeOnly();
      row._read = function () {
        var out = { type: kind.type };
        Object.keys(readers).forEach(function (arg) {
          if (arg === "minutes" && minutesField && minutesField.hidden) return;
          out[arg] = readers[arg]();
        });
        return out;
      };
    }
    typeSelect.addEventListener("change", function () { build({}); editor._sync(); });
    build(data);
    return row;
  }

  // --- one editor per JSON textarea ---------------------------------------------------------------------
  function enhance(editor) {
    var target = document.getElementById(editor.dataset.target);
    if (!target) return;
    var initial;
    try {
      initial = JSON.parse(target.value || "[]");
      if (!Array.isArray(initial)) return;
    } catch (error) {
      return; // what the person typed stays in the textarea, with the server's error above
    }
    var isConditions = editor.dataset.rows === "conditions";
    var macro = editor.dataset.macro === "1";
    var known = initial.every(function (item) {
      if (!item || typeof item !== "object") return false;
      return isConditions ? !!fields[item.field] : !!actionKinds[item.type];
    });
    if (!known) return; // rows could not show it all: the JSON stays editable as it is
    var list = el("div", { className: "row-list" });
    editor.appendChild(list);
    editor._sync = function () {
      var rows = Array.prototype.slice.call(list.children);
      target.value = JSON.stringify(rows.map(function (row) { return row._read(); }));
      empty.hidden = rows.length > 0;
    };
    var empty = el("p", { className: "row-empty muted", text: isConditions ? "No conditions: the rule acts on every event of this type." : "No actions yet." });
    editor.appendChild(empty);
    var add = el("button", { type: "button", className: "secondary row-add", text: isConditions ? "Add a condition" : "Add an action" });
    add.addEventListener("click", function () {
      var row = isConditions ? conditionRow(editor, { field: "channel" }) : actionRow(editor, { type: macro ? "add_label" : "assign_team" }, macro);
      list.appendChild(row);
      editor._sync();
      var first = row.querySelector("select");
      if (first) first.focus();
    });
    editor.appendChild(add);
    initial.forEach(function (item) {
      list.appendChild(isConditions ? conditionRow(editor, item) : actionRow(editor, item, macro));
    });
    editor.hidden = false;
    var fallback = target.closest(".json-fallback");
    if (fallback) fallback.hidden = true;
    editor._sync();
    var form = editor.closest("form");
    if (form) form.addEventListener("submit", editor._sync);
  }

  document.querySelectorAll(".rows-editor").forEach(enhance);

  // Deleting asks first (data-confirm on the button); without this script it simply deletes.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
