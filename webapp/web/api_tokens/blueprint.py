"""The api_tokens blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("api_tokens", __name__)
