from flask import Blueprint

bp = Blueprint("client", __name__)

from . import library, routes  # noqa: E402,F401
