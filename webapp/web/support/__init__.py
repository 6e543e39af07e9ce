from .blueprint import bp
from . import agencies, reports, routes, system, tickets  # noqa: F401  (their views register on bp)

__all__ = ["bp"]
