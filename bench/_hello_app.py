"""The app as `make prod` serves it, plus one bare endpoint: the ceiling of bench/throughput.py.

`/__bench__/hello` goes through everything every request of this server goes through (the WSGI stack,
the request id and metrics hooks, the session cookie's reading, the per-request log line) and does nothing
else: no database, no template. Only the benchmark loads this module; the app never serves that path."""
from webapp import create_app

app = create_app()


@app.get("/__bench__/hello")
def bench_hello():
    return "hello"
