"""The myaccount blueprint; its views are in the modules __init__ imports."""
from flask import Blueprint

bp = Blueprint("myaccount", __name__)
