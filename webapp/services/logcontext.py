"""What every log line is about: the request's id and the operation's, while there is one (issue 25).

Context variables, so each request's thread and each job carry their own. The app's logging (webapp.observability)
adds them to every record; a job started by a request carries that request's id (operations.submit keeps it in
the operation's params, operations.run sets it again while the operation runs)."""
from __future__ import annotations

import contextvars
import re
from contextlib import contextmanager

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("agencyhq_request_id", default=None)
operation_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("agencyhq_operation_id", default=None)

# The params key a submitted operation keeps its request's id under (no column, no migration).
PARAM = "_request_id"
# What a request id sent by a trusted proxy may look like (anything else: a new one is made).
VALID_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def current_request_id() -> str | None:
    return request_id.get()


@contextmanager
def operation(op_id: int, request: str | None = None):
    """While an operation runs: its id, and the id of the request that submitted it, on every line."""
    op_token = operation_id.set(op_id)
    req_token = request_id.set(request or request_id.get())  # bind_request may change it inside
    try:
        yield
    finally:
        operation_id.reset(op_token)
        request_id.reset(req_token)


def bind_request(op_request_id: str | None) -> None:
    """Inside `operation`: the submitting request's id, once the operation row is read."""
    if op_request_id and VALID_ID.match(str(op_request_id)):
        request_id.set(str(op_request_id))
