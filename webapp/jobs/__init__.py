"""Thin RQ entry points that take ids and call services, and the sweeper's clock."""
