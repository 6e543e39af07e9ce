"""Small local stand-ins for remote services the tests reach over HTTP, as production reaches the real ones."""
