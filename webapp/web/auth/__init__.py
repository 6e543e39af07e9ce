from .blueprint import bp
from . import joining, routes  # noqa: F401  (their views register on bp)

__all__ = ["bp"]
