from flask import Blueprint

bp = Blueprint("commission", __name__)

from . import routes  # noqa: E402,F401
