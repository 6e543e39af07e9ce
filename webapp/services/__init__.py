"""The rules and the transactions. No `request` in here: views, the API and jobs pass what they know."""
