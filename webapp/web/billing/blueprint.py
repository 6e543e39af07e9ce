"""The billing blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("billing", __name__, url_prefix="/billing")
