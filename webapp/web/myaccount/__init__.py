from flask import Blueprint

bp = Blueprint("myaccount", __name__)

from . import routes  # noqa: E402,F401
