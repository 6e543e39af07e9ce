from flask import Blueprint

bp = Blueprint("contact", __name__)

from . import routes  # noqa: E402,F401
