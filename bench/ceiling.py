"""The ceiling: a Flask app that answers a tiny JSON body, nothing else.

Served by ``bench/run.py`` with the same gunicorn settings as the service and
Isso, from the bench/ folder (so gunicorn does not read the service's
gunicorn.conf.py).
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def hello() -> object:
    return jsonify(hello="world")
