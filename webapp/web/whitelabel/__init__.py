from flask import Blueprint

bp = Blueprint("whitelabel", __name__)

from . import routes  # noqa: E402,F401
