from flask import Blueprint

bp = Blueprint("pushdown", __name__)

from . import library, routes  # noqa: E402,F401
