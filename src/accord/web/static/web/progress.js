// A background job's progress bar: asks the job's status (JSON) every second
// or two and moves the bar; when the job ends, reloads the page, which then
// shows the report. Without script the page refreshes itself (a <noscript>
// meta refresh) and the bar moves all the same.
document.addEventListener("DOMContentLoaded", function () {
  var bar = document.querySelector("progress[data-status-url]");
  if (!bar) { return; }
  var label = document.getElementById("job-progress-label");
  function poll() {
    var request = new XMLHttpRequest();
    request.addEventListener("load", function () {
      var job = null;
      try { job = JSON.parse(request.responseText); } catch (err) { job = null; }
      if (!job) { return; }
      bar.max = Math.max(job.total, 1);
      bar.value = job.done;
      if (label) { label.textContent = job.done + " / " + job.total; }
      if (job.finished) { window.location.reload(); } else { window.setTimeout(poll, 1500); }
    });
    request.open("GET", bar.getAttribute("data-status-url"));
    request.send();
  }
  window.setTimeout(poll, 1000);
});
