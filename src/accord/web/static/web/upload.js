// Bundle import with a progress bar: the upload goes by XMLHttpRequest so the
// browser reports its progress; without script the form still posts normally.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("import-form");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var bar = document.getElementById("import-progress");
    var result = document.getElementById("import-result");
    var request = new XMLHttpRequest();
    bar.hidden = false;
    bar.value = 0;
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
    });
    request.addEventListener("load", function () {
      var answer = {};
      try { answer = JSON.parse(request.responseText); } catch (err) { answer = {}; }
      bar.value = 100;
      result.textContent = answer.message || answer.error || request.statusText;
      if (answer.refused && answer.url) {
        // Each refused object and its reason are on the import's own page.
        var link = document.createElement("a");
        link.href = answer.url;
        link.textContent = form.dataset.refusedLabel || answer.url;
        result.appendChild(document.createTextNode(" "));
        result.appendChild(link);
      }
    });
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    request.send(new FormData(form));
  });
});
