from .blueprint import bp
from . import billing, library, parent_automations, routes  # noqa: F401  (their views register on bp)

__all__ = ["bp"]
