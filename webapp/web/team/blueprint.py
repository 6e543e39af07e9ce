"""The team blueprint (issue 19): the Team page and accepting an invitation; its views are in routes."""
from flask import Blueprint

bp = Blueprint("team", __name__)
