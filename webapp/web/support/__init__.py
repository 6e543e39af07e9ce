from flask import Blueprint

bp = Blueprint("support", __name__)

from . import agencies, routes  # noqa: E402,F401
