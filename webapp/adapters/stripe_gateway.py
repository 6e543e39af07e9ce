"""Stripe as the card processor (PAYMENT_GATEWAY=stripe), through the official `stripe` library.

- The card is never sent to AgencyHQ: the billing page shows Stripe.js Elements, which confirms a
  SetupIntent made here (`start_card_setup`) straight with Stripe; `finish_card_setup` then reads back
  the PaymentMethod and keeps its id, the Customer's, the brand, the last 4 digits and the expiry.
- A charge is an off-session PaymentIntent confirmed at once, sent with our operation's key as Stripe's
  `Idempotency-Key`: a retried renewal gets Stripe's first answer, never a second charge (B8).
- The 1.00 authorization (B3) is a manual-capture PaymentIntent, cancelled at once; a refund is a Refund.
- Declines map to the sandbox's codes (adapters.payments.MESSAGES), so the UI and the dunning rules
  behave alike; an outage (connection refused, timeout, 5xx, 429) is GatewayUnavailable: the same key is
  tried again later.
- Webhook events are checked with `stripe.Webhook.construct_event` (signature and a 5-minute window).
"""
from __future__ import annotations

import logging

import stripe

from .payments import CardSetupStart, CardToken, GatewayError, GatewayResult, GatewayUnavailable

log = logging.getLogger("agencyhq.stripe")

WEBHOOK_TOLERANCE_SECONDS = 300
# Stripe's codes (an error's `code`, or its `decline_code` under card_declined) -> ours.
_CODES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "processing_error": "processing_error",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_required",
}


def decline_from(exc: stripe.StripeError) -> GatewayError:
    """Our GatewayError for what Stripe raised."""
    if isinstance(exc, (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)):
        return GatewayUnavailable()
    if isinstance(exc, (stripe.AuthenticationError, stripe.PermissionError)):
        log.error("Stripe refused AgencyHQ's credentials: %s", exc.user_message)
        return GatewayUnavailable("The card processor refused AgencyHQ's credentials; the payment will be tried "
                                  "again once that is fixed.")
    if isinstance(exc, stripe.CardError):
        error = exc.error
        for candidate in (getattr(error, "decline_code", None), exc.code):
            if candidate in _CODES:
                return GatewayError(_CODES[candidate])
        return GatewayError("card_declined")
    if isinstance(exc, stripe.IdempotencyError):
        # Our key was used with other parameters: a bug of ours, never a reason to charge under a new key.
        log.error("Stripe idempotency conflict: %s", exc.user_message)
        return GatewayError("processing_error")
    # InvalidRequestError: a card detached or deleted at Stripe, an unknown id.
    return GatewayError("card_declined", "The card on file can no longer be charged: save a card again.")


class StripeGateway:
    name = "stripe"
    collects_card = True
    sends_events = True

    def __init__(self, *, secret_key: str, publishable_key: str | None, api_base: str, js_url: str,
                 webhook_secret: str | None, timeout: float = 20):
        if not secret_key:
            raise RuntimeError("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY")
        self.publishable_key = publishable_key
        self.js_url = js_url
        self.api_base = api_base.rstrip("/")
        self.webhook_secret = webhook_secret
        # No retries inside the library: a failed call is retried by our schedule, with the same key.
        self.client = stripe.StripeClient(secret_key, base_addresses={"api": self.api_base}, max_network_retries=0,
                                          http_client=stripe.RequestsClient(timeout=timeout))

    # --- the card, saved by Stripe's own form ----------------------------------------------------
    def tokenize(self, number, exp_month, exp_year, cvc, *, idempotency_key) -> CardToken:
        raise GatewayError("processing_error", "Card numbers go to Stripe's card form, never to AgencyHQ.")

    def start_card_setup(self, *, customer: str | None, description: str, metadata: dict,
                         idempotency_key: str) -> CardSetupStart:
        meta = {k: str(v) for k, v in metadata.items()}
        try:
            if customer is None:
                customer = self.client.v1.customers.create(
                    params={"description": description[:200], "metadata": meta},
                    options={"idempotency_key": f"{idempotency_key}:customer"}).id
            intent = self.client.v1.setup_intents.create(
                params={"customer": customer, "usage": "off_session", "payment_method_types": ["card"],
                        "metadata": meta},
                options={"idempotency_key": f"{idempotency_key}:setup"})
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        return CardSetupStart(setup_ref=intent.id, client_secret=intent.client_secret, customer=customer)

    def finish_card_setup(self, setup_ref: str) -> CardToken:
        try:
            intent = self.client.v1.setup_intents.retrieve(setup_ref, params={"expand": ["payment_method"]})
            if intent.status != "succeeded" or not intent.payment_method:
                raise GatewayError("card_declined", "The card was not confirmed; enter it again.")
            method = intent.payment_method
            if isinstance(method, str):
                method = self.client.v1.payment_methods.retrieve(method)
            if not method.customer and intent.customer:
                # Stripe attaches a SetupIntent's card to its customer; attach it if it is not yet.
                method = self.client.v1.payment_methods.attach(method.id, params={"customer": intent.customer})
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        return self._token(method, intent.customer)

    def card(self, token: str) -> CardToken:
        try:
            method = self.client.v1.payment_methods.retrieve(token)
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        return self._token(method, method.customer)

    @staticmethod
    def _token(method, customer) -> CardToken:
        card = method.card
        return CardToken(token=method.id, brand=str(card.brand or "card"), last4=str(card.last4),
                         exp_month=int(card.exp_month), exp_year=int(card.exp_year), customer=customer)

    # --- money ---------------------------------------------------------------------------------
    def charge(self, token: str, amount_cents: int, currency: str, *, idempotency_key: str,
               customer: str | None = None) -> GatewayResult:
        intent = self._payment_intent(token, customer, amount_cents, currency, idempotency_key, manual=False)
        return GatewayResult(intent.id, amount_cents, "succeeded")

    def authorize(self, token: str, amount_cents: int, currency: str, *, idempotency_key: str,
                  customer: str | None = None) -> GatewayResult:
        intent = self._payment_intent(token, customer, amount_cents, currency, idempotency_key, manual=True)
        return GatewayResult(intent.id, amount_cents, "authorized")

    def capture(self, reference: str, amount_cents: int, *, idempotency_key: str) -> GatewayResult:
        try:
            self.client.v1.payment_intents.capture(reference, params={"amount_to_capture": amount_cents},
                                                   options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        return GatewayResult(reference, amount_cents, "captured")

    def void(self, reference: str, *, idempotency_key: str) -> GatewayResult:
        try:
            self.client.v1.payment_intents.cancel(reference, options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        return GatewayResult(reference, 0, "voided")

    def refund(self, reference: str, amount_cents: int, *, idempotency_key: str) -> GatewayResult:
        try:
            refund = self.client.v1.refunds.create(params={"payment_intent": reference, "amount": amount_cents},
                                                   options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        return GatewayResult(refund.id, amount_cents, "refunded")

    def _payment_intent(self, token, customer, amount_cents, currency, key, *, manual: bool):
        if amount_cents <= 0:
            raise GatewayError("processing_error", "The amount must be positive.")
        params = {"amount": amount_cents, "currency": currency.lower(), "payment_method": token,
                  "off_session": True, "confirm": True, "metadata": {"agencyhq_key": key}}
        if customer:
            params["customer"] = customer
        if manual:
            params["capture_method"] = "manual"
        try:
            intent = self.client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
        except stripe.StripeError as exc:
            raise decline_from(exc) from None
        wanted = "requires_capture" if manual else "succeeded"
        if intent.status == wanted:
            return intent
        if intent.status == "requires_action":
            # The bank asks the holder to authenticate (SCA), which an off-session payment cannot: Stripe
            # answers 402 authentication_required, or leaves the intent waiting; it is cancelled here.
            try:
                self.client.v1.payment_intents.cancel(intent.id, options={"idempotency_key": f"{key}:cancel"})
            except stripe.StripeError:
                log.warning("could not cancel PaymentIntent %s waiting for authentication", intent.id)
            raise GatewayError("authentication_required")
        if intent.status == "processing":
            raise GatewayUnavailable("The card processor is still processing the payment; it will be checked again.")
        error = intent.last_payment_error
        code = (getattr(error, "decline_code", None) or getattr(error, "code", None)) if error else None
        raise GatewayError(_CODES.get(code, "card_declined"))

    # --- webhooks --------------------------------------------------------------------------------
    def parse_event(self, payload: bytes, signature: str | None) -> dict:
        """The event Stripe signed, as a dict; GatewayError("bad_signature") for a bad signature, a
        timestamp outside the 5-minute window, or a body that is not an event."""
        if not self.webhook_secret:
            raise GatewayError("bad_signature", "STRIPE_WEBHOOK_SECRET is not set: no event can be trusted.")
        try:
            event = stripe.Webhook.construct_event(payload, signature or "", self.webhook_secret,
                                                   tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise GatewayError("bad_signature", str(exc)) from None
        return event.to_dict()
