"""The edge of the world: one interface each, with a sandbox or embedded implementation beside it."""
