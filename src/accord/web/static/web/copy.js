// A button with data-copy="ID" copies the text of the element ID (signed JSON
// shown on a page) to the clipboard, exactly as shown.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button[data-copy]");
  if (!button) {
    return;
  }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) {
    return;
  }
  navigator.clipboard.writeText(source.textContent).then(function () {
    button.textContent = button.getAttribute("data-copied") || button.textContent;
  });
});
