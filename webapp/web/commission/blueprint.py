"""The commission blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("commission", __name__)
