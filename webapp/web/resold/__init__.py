from flask import Blueprint

bp = Blueprint("resold", __name__)

from . import routes  # noqa: E402,F401
