// AgencyHQ's small page helpers. Pages work without this file; it only enhances.
(function () {
  // Copy buttons: <button data-copy="#id"> copies the text of #id.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.value || source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // A colour picker beside a text field (data-colour-for="id") writes its value there, as if typed.
  document.addEventListener("input", function (event) {
    var picker = event.target;
    if (!picker.getAttribute || !picker.getAttribute("data-colour-for")) return;
    var field = document.getElementById(picker.getAttribute("data-colour-for"));
    if (!field) return;
    field.value = picker.value;
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Branding previews take their colour from data-brand (the pages' policy allows no inline style;
  // setting it from a script is allowed).
  function paintBrands(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-brand]").forEach(function (el) {
      if (/^#[0-9a-fA-F]{6}$/.test(el.getAttribute("data-brand"))) el.style.setProperty("--brand", el.getAttribute("data-brand"));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { paintBrands(document); });
  document.addEventListener("htmx:afterSettle", function (event) { paintBrands(event.target.parentNode || document); });

  // A template's HTML field (data-live-preview="#button") shows its preview as you type: the button
  // posts the form into the preview frame.
  var previewTimers = new WeakMap();
  function showPreview(field) {
    var button = document.querySelector(field.getAttribute("data-live-preview"));
    if (button && field.form && field.form.requestSubmit) field.form.requestSubmit(button);
  }
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.getAttribute || !field.getAttribute("data-live-preview")) return;
    clearTimeout(previewTimers.get(field));
    previewTimers.set(field, setTimeout(function () { showPreview(field); }, 500));
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-preview]").forEach(function (field) {
      if (field.value.trim()) showPreview(field);
    });
  });

  // <a data-back> goes back in the history when there is one (its href is the fallback).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-back]");
    if (link && window.history.length > 1) { event.preventDefault(); window.history.back(); }
  });

  // <button data-print> opens the browser's print dialog.
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) window.print();
  });

  // Forms with data-confirm ask first (deleting, revoking); without JavaScript they just submit.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // A background request that failed (htmx swaps nothing on an error): say so in #request-failed.
  function requestFailed(kind) {
    var box = document.getElementById("request-failed");
    if (!box) return;
    box.textContent = box.getAttribute("data-" + kind);
    box.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 500;
    requestFailed(status >= 500 ? "server" : "refused");
  });
  document.addEventListener("htmx:sendError", function () { requestFailed("network"); });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("request-failed");
    if (box) box.hidden = true;
  });
})();
