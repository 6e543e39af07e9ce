"""The /api/v1 blueprint, with what every request goes through (guard.py) and its JSON errors."""
from flask import Blueprint

from ..sites import API_PREFIX
from . import errors, guard

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
errors.register(bp)
guard.register(bp)
