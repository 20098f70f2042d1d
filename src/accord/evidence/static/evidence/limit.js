// An evidence file over the node's limit is refused here, before the browser
// sends a byte; the server refuses it too (unread) when script is off.
document.addEventListener("submit", function (event) {
  var input = event.target.querySelector("input[type=file][data-max-bytes]");
  if (!input || !input.files || !input.files.length) { return; }
  var limit = Number(input.getAttribute("data-max-bytes"));
  if (input.files[0].size > limit) {
    event.preventDefault();
    var note = document.getElementById(input.getAttribute("aria-describedby"));
    if (note) { note.textContent = input.getAttribute("data-too-large"); note.classList.add("error"); }
  }
});
