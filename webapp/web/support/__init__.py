from flask import Blueprint

bp = Blueprint("support", __name__)

from . import agencies, routes, tickets  # noqa: E402,F401
