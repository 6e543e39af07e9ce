"""The health blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("health", __name__)
