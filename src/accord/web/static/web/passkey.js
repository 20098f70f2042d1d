// Passkeys (WebAuthn, issue 14). A form with data-passkey="create" (add a
// passkey) or "get" (confirm a sign-in with one) first asks the node for the
// ceremony's options (POST to data-options, JSON), lets the browser make or
// use a passkey, then submits the browser's answer in the hidden field
// "credential". A failure on the browser's side (cancelled, no authenticator)
// is submitted too, in the field "error": the node audits it and says, in the
// reader's language, what to do next. No inline script: the page's CSP holds.
(function () {
  "use strict";

  function submitFailure(form, name) {
    form.elements.error.value = name || "Error";
    form.submit();
  }

  function supported() {
    return Boolean(
      window.PublicKeyCredential &&
        PublicKeyCredential.parseCreationOptionsFromJSON &&
        PublicKeyCredential.parseRequestOptionsFromJSON
    );
  }

  async function ceremony(form) {
    if (!supported()) {
      submitFailure(form, "NotSupportedError");
      return;
    }
    var response = await fetch(form.getAttribute("data-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "X-CSRFToken": form.elements.csrfmiddlewaretoken.value,
      },
    });
    if (!response.ok) {
      submitFailure(form, "options");
      return;
    }
    var options = await response.json();
    var credential;
    if (form.getAttribute("data-passkey") === "create") {
      credential = await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
      });
    } else {
      credential = await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
      });
    }
    form.elements.credential.value = JSON.stringify(credential.toJSON());
    form.submit();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-passkey]") || event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    form.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
    });
    ceremony(form).catch(function (error) {
      submitFailure(form, error && error.name);
    });
  });
})();
