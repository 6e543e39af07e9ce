"""The whitelabel blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("whitelabel", __name__)
