"""The reports blueprint (S6, N3): the agency's abuse and bounce reports; its views are in routes.py."""
from flask import Blueprint

bp = Blueprint("reports", __name__)
