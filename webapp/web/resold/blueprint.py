"""The resold blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("resold", __name__)
