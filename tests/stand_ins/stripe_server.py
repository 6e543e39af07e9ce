"""Stripe for the tests: localstripe (a stateful fake Stripe server with a Stripe.js Elements mock and
webhooks), run in this process with the few behaviours of Stripe it lacks, which the Stripe adapter
relies on. Run as `python -m tests.stand_ins.stripe_server --port N`; the tests point STRIPE_API_BASE and
STRIPE_JS_URL at it, exactly as production points them at api.stripe.com and js.stripe.com.

What localstripe lacks, and what this module adds (each as small as it can be):

- **Idempotency-Key.** Stripe keeps the first answer to a POST for a key (24 hours) and replays it, with
  the header `Idempotent-Replayed: true`, for the same key; the same key with other parameters is a 400
  `idempotency_error`. localstripe ignores the header, so a retried charge would charge twice: a
  middleware keeps the answers by key and replays them.
- **Off-session decline codes.** localstripe declines a charge only with `card_declined` (test card
  4000 0000 0000 0341), and answers an off-session PaymentIntent whose card needs authentication
  (4000 0027 6000 3184) with `requires_action` where Stripe answers 402 `authentication_required`
  (the adapter handles both). Stripe's decline codes (`insufficient_funds`, `expired_card`,
  `processing_error`, `authentication_required`) are reached through `POST /_config/stand_in/next_error`,
  which makes the next PaymentIntent creation answer with the error body Stripe documents, and through
  `POST /_config/stand_in/card_error` `{"payment_method": "pm_...", "error": {...} | null}`, which makes
  every PaymentIntent creation with that card answer so until it is cleared (a card whose issuer declines
  it, then approves it: localstripe's declining test cards 9995/0069/0119 are refused when saved).
- **Outages.** `POST /_config/stand_in/outage` with `{"count": N, "status": 503}` answers the next N API
  calls with Stripe's `api_error` body; `{"status": 0}` drops the connection instead (after the work
  is done when `after: true`, as a timeout after Stripe charged would).
- **Disk.** localstripe pickles its store to /tmp/localstripe.pickle on every write, which parallel
  test workers would share: here the store stays in memory.
- **Events.** `POST /_config/stand_in/event` signs and delivers a Stripe event (charge.refunded,
  charge.dispute.created, ...) to the registered webhooks now, as Stripe does for a refund or a
  dispute made outside AgencyHQ.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

from aiohttp import web

from localstripe import resources, server, webhooks

resources.Store.dump_to_disk = lambda self: None  # in memory only (see the docstring)
resources.Store.try_load_from_disk = lambda self: None

_answers: dict[str, tuple[str, int, bytes]] = {}  # Idempotency-Key -> (fingerprint, status, body)
_locks: dict[str, asyncio.Lock] = {}
_next_errors: list[dict] = []
_card_errors: dict[str, dict] = {}  # PaymentMethod id -> the error every PaymentIntent with it answers
_outages: list[dict] = []


def _error(status: int, body: dict) -> web.Response:
    return web.json_response({"error": body}, status=status)


@web.middleware
async def stand_in_middleware(request: web.Request, handler):
    if request.path.startswith("/js.stripe.com/") or request.path.startswith("/_config/"):
        return await handler(request)
    outage = _outages.pop(0) if _outages else None
    if outage and outage["count"] > 1:
        _outages.insert(0, {**outage, "count": outage["count"] - 1})
    if outage and not outage["after"]:
        return _fail(request, outage)
    response = await _idempotent(request, handler)
    if outage:  # the work is done (and its answer kept for the key), the answer never arrives
        return _fail(request, outage)
    return response


def _fail(request: web.Request, outage: dict) -> web.Response:
    if outage["status"] == 0:
        request.transport.close()
        raise asyncio.CancelledError
    return _error(outage["status"], {"type": "api_error", "message": "An error occurred with our API."})


async def _answer(request: web.Request, handler) -> web.StreamResponse:
    if request.method == "POST" and request.path == "/v1/payment_intents" and (_next_errors or _card_errors):
        form = parse_qs((await request.read()).decode())
        method = (form.get("payment_method") or [""])[0]
        if _next_errors:
            return _error(402, {"type": "card_error", **_next_errors.pop(0)})
        if method in _card_errors:
            return _error(402, {"type": "card_error", **_card_errors[method]})
    return await handler(request)


async def _idempotent(request: web.Request, handler) -> web.StreamResponse:
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await _answer(request, handler)
    body = await request.read()
    fingerprint = hashlib.sha256(request.path.encode() + b"\n" + body).hexdigest()
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:  # a concurrent request with the same key waits for the first answer
        if key in _answers:
            first, status, answer = _answers[key]
            if first != fingerprint:
                return _error(400, {"type": "idempotency_error", "message": (
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different request.")})
            return web.Response(body=answer, status=status, content_type="application/json",
                                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
        response = await _answer(request, handler)
        if response.status < 500:  # Stripe does not keep a 5xx answer: the key may be tried again
            _answers[key] = (fingerprint, response.status, response.body)
        return response


async def next_error(request: web.Request) -> web.Response:
    """The next PaymentIntent creation answers 402 with this error (code, decline_code, message)."""
    _next_errors.append(await request.json())
    return web.json_response({"queued": len(_next_errors)})


async def card_error(request: web.Request) -> web.Response:
    """Every PaymentIntent creation with this PaymentMethod answers 402 with this error; null clears it."""
    data = await request.json()
    if data.get("error"):
        _card_errors[data["payment_method"]] = data["error"]
    else:
        _card_errors.pop(data["payment_method"], None)
    return web.json_response({"cards": len(_card_errors)})


async def outage(request: web.Request) -> web.Response:
    data = await request.json()
    _outages.append({"count": int(data.get("count", 1)), "status": int(data.get("status", 503)),
                     "after": bool(data.get("after"))})
    return web.json_response({"queued": len(_outages)})


async def send_event(request: web.Request) -> web.Response:
    """Delivers a signed event now to every registered webhook: {"type": ..., "object": {...}}."""
    data = await request.json()
    created = int(data.get("created") or time.time())
    event = {"id": data.get("id") or "evt_" + resources.random_id(24), "object": "event", "type": data["type"],
             "created": created, "livemode": False, "api_version": "2024-06-20",
             "data": {"object": data["object"]}}
    payload = json.dumps(event).encode()
    import aiohttp
    statuses = []
    for hook in webhooks._webhooks.values():
        signature = hmac.new(hook.secret.encode(), b"%d.%s" % (created, payload), hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Stripe-Signature": f"t={created},v1={signature}"}
        async with aiohttp.ClientSession() as session:
            async with session.post(hook.url, data=payload, headers=headers) as answer:
                statuses.append(answer.status)
    return web.json_response({"id": event["id"], "statuses": statuses})


async def reset(request: web.Request) -> web.Response:
    resources.store.clear()
    _answers.clear()
    _next_errors.clear()
    _card_errors.clear()
    _outages.clear()
    return web.json_response({})


def make_app() -> web.Application:
    app = server.app
    app.middlewares.insert(1, stand_in_middleware)  # after localstripe's error middleware, before its auth
    app.router.add_post("/_config/stand_in/next_error", next_error)
    app.router.add_post("/_config/stand_in/card_error", card_error)
    app.router.add_post("/_config/stand_in/outage", outage)
    app.router.add_post("/_config/stand_in/event", send_event)
    app.router.add_post("/_config/stand_in/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=lambda *_: print(
        f"stand-in Stripe listening on {args.port}", flush=True))


if __name__ == "__main__":
    main()
