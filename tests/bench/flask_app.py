"""A Flask JSON endpoint for the benchmark."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/json")
def json_endpoint():
    return jsonify(message="Hello, world!", items=list(range(10)))


application = app
