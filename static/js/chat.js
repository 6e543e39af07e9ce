// The live chat (S3): keeps the newest line in view. The chat works without this file.
(function () {
  function toBottom() {
    var log = document.getElementById("chat-lines");
    if (log) log.scrollTop = log.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", toBottom);
  document.addEventListener("htmx:oobAfterSwap", toBottom);
})();
