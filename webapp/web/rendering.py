"""One helper decides between the full page and the htmx fragment."""
from __future__ import annotations

from flask import make_response, render_template

from ..extensions import htmx


def wants_fragment() -> bool:
    # A history-restore request must get the whole page, or Back would show a bare fragment.
    return bool(htmx) and not htmx.history_restore_request


def render(template: str, fragment: str | None = None, /, **context):
    """`template` for a normal request; `fragment` (a partial it includes) for an htmx one."""
    template = fragment if fragment and wants_fragment() else template
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    return response
