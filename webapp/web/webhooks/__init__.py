"""Webhooks from the card processor (issue 20): POST /webhooks/stripe. No session, no CSRF (Stripe
signs each event; services.gateway_events checks it and acts once per event id)."""
from flask import Blueprint, jsonify, request

from ...extensions import csrf
from ...services import gateway_events

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.post("/stripe")
def stripe():
    answer = gateway_events.receive_stripe(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    return jsonify({"received": answer.status == 200, "message": answer.message}), answer.status
