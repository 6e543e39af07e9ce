"""The pushdown blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("pushdown", __name__)
