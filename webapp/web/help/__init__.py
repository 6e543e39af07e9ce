from flask import Blueprint

bp = Blueprint("help", __name__)

from . import routes  # noqa: E402,F401
