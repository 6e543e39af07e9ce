"""The contact blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("contact", __name__)
