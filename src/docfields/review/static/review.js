// docfields review desk: presence toggles, multi-value rows, box highlighting, zoom, shortcuts.
// Plain JavaScript, no build step, no third-party code. The form works without it; this only helps.
(() => {
  "use strict";

  const form = document.getElementById("review-form");
  if (!form) return;
  const fields = Array.from(form.querySelectorAll("fieldset.field"));
  const pages = document.getElementById("pages");
  let current = 0;
  let zoom = 1;

  const valueInputs = (fieldset) => Array.from(fieldset.querySelectorAll(".single input, .single textarea, .value-row input, .value-row textarea"));
  const rows = (fieldset) => Array.from(fieldset.querySelectorAll(".value-row"));
  const boxesOf = (index) => document.querySelectorAll(`rect.box[data-field="${index}"]`);

  function syncPresence(fieldset) {
    const present = fieldset.querySelector(".present input").checked;
    fieldset.classList.toggle("absent", !present);
    valueInputs(fieldset).forEach((input, i) => {
      input.disabled = !present; // disabled inputs are neither sent nor validated: the value is remembered
      input.required = present && i === 0;
    });
    const add = fieldset.querySelector("button.add");
    if (add) add.disabled = !present;
    syncRows(fieldset);
  }

  function syncRows(fieldset) {
    const name = fieldset.dataset.name;
    const present = fieldset.querySelector(".present input").checked;
    rows(fieldset).forEach((row, i, all) => {
      const input = row.querySelector("input, textarea");
      const label = row.querySelector("label");
      const remove = row.querySelector("button.remove");
      input.id = `f${fieldset.dataset.field}-v${i}`;
      label.htmlFor = input.id;
      label.textContent = `Value ${i + 1}`;
      remove.setAttribute("aria-label", `Remove value ${i + 1} of ${name}`);
      remove.disabled = !present || all.length < 2;
    });
  }

  function addValue(fieldset) {
    const row = document.getElementById("value-row-template").content.firstElementChild.cloneNode(true);
    const input = row.querySelector("input");
    input.name = `field-multival-${fieldset.dataset.name}`;
    fieldset.querySelector("ul.values").appendChild(row);
    syncPresence(fieldset);
    input.focus();
  }

  function removeValue(row) {
    const fieldset = row.closest("fieldset");
    const all = rows(fieldset);
    if (all.length < 2) return;
    const position = all.indexOf(row);
    row.remove();
    syncPresence(fieldset);
    const left = valueInputs(fieldset);
    left[Math.min(position, left.length - 1)].focus();
  }

  function setCurrent(index) {
    fields.forEach((fieldset, i) => fieldset.classList.toggle("current", i === index));
    document.querySelectorAll("rect.box.current").forEach((rect) => rect.classList.remove("current"));
    boxesOf(index).forEach((rect) => rect.classList.add("current"));
    current = index;
  }

  function focusField(index) {
    const target = fields[Math.max(0, Math.min(fields.length - 1, index))];
    const inputs = valueInputs(target).filter((input) => !input.disabled);
    (inputs[0] || target.querySelector(".present input")).focus();
    target.scrollIntoView({ block: "nearest" });
  }

  function highlight(boxId, on) {
    const rect = document.getElementById(boxId);
    if (rect) rect.classList.toggle("active", on);
  }

  function showBox(boxId) {
    const rect = document.getElementById(boxId);
    if (rect) rect.scrollIntoView({ block: "center", inline: "center", behavior: "smooth" });
  }

  function setZoom(value) {
    zoom = Math.max(0.5, Math.min(4, value));
    pages.style.width = `${Math.round(zoom * 100)}%`;
    document.getElementById("zoom-level").textContent = `${Math.round(zoom * 100)}%`;
  }

  fields.forEach((fieldset, index) => {
    fieldset.querySelectorAll("button.add, button.remove").forEach((button) => { button.hidden = false; });
    syncPresence(fieldset);
    fieldset.querySelector(".present input").addEventListener("change", () => syncPresence(fieldset));
    fieldset.addEventListener("focusin", () => setCurrent(index));
    fieldset.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.classList.contains("add")) addValue(fieldset);
      else if (button.classList.contains("remove")) removeValue(button.closest(".value-row"));
      else if (button.classList.contains("detection")) showBox(button.dataset.box);
    });
  });

  form.querySelectorAll("button.detection").forEach((button) => {
    const box = button.dataset.box;
    button.addEventListener("mouseenter", () => highlight(box, true));
    button.addEventListener("mouseleave", () => highlight(box, false));
    button.addEventListener("focus", () => highlight(box, true));
    button.addEventListener("blur", () => highlight(box, false));
  });

  document.querySelectorAll("rect.box").forEach((rect) => {
    rect.addEventListener("click", () => focusField(Number(rect.dataset.field)));
  });

  document.querySelectorAll("[data-zoom]").forEach((button) => {
    button.addEventListener("click", () => {
      const action = button.dataset.zoom;
      setZoom(action === "in" ? zoom * 1.25 : action === "out" ? zoom / 1.25 : 1);
    });
  });

  document.addEventListener("keydown", (event) => {
    if (event.altKey && event.key === "ArrowDown") focusField(current + 1);
    else if (event.altKey && event.key === "ArrowUp") focusField(current - 1);
    else if (event.altKey && event.code === "KeyA") {
      fields[current].classList.add("accepted");
      focusField(current + 1);
    } else if ((event.ctrlKey || event.metaKey) && event.key === "Enter") form.requestSubmit();
    else if (event.altKey && event.code === "Equal") setZoom(zoom * 1.25);
    else if (event.altKey && event.code === "Minus") setZoom(zoom / 1.25);
    else return;
    event.preventDefault();
  });

  if (fields.length) setCurrent(0);
})();
