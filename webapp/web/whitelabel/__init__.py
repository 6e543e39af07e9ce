from flask import Blueprint

bp = Blueprint("whitelabel", __name__)

from . import routes, template_routes  # noqa: E402,F401
