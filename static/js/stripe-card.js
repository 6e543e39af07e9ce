// The billing profile under Stripe: Stripe.js's card form confirms the SetupIntent AgencyHQ made, straight
// with Stripe; then the form posts only the setup's id and AgencyHQ's single-use state. The card number
// never reaches AgencyHQ.
(function () {
  var form = document.querySelector("form[data-stripe-key]");
  if (!form || typeof Stripe === "undefined") return;
  var stripe = Stripe(form.getAttribute("data-stripe-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var errors = document.getElementById("card-errors");
  var button = form.querySelector("button[type=submit]");
  var confirmed = false;
  form.addEventListener("submit", function (event) {
    if (confirmed) return;
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    stripe.confirmCardSetup(form.getAttribute("data-client-secret"), { payment_method: { card: card } })
      .then(function (result) {
        if (result.error) {
          errors.textContent = result.error.message || String(result.error);
          button.disabled = false;
          return;
        }
        confirmed = true;
        form.submit();
      });
  });
})();
