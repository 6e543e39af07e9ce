from .blueprint import bp
from . import routes, webhooks  # noqa: F401  (their views register on bp)

__all__ = ["bp"]
