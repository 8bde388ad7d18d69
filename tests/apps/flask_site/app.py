"""A small Flask app: routing, JSON, sessions, upload, streaming, errors."""
import hashlib

from flask import Flask, Response, abort, jsonify, request, session, stream_with_context

app = Flask(__name__)
app.secret_key = "test-only-secret"


@app.route("/")
def index():
    return "flask index"


@app.route("/item/<int:item_id>")
def item(item_id):
    return jsonify(id=item_id, doubled=item_id * 2, query=request.args.get("q"))


@app.post("/echo-json")
def echo_json():
    data = request.get_json()
    return jsonify(received=data, keys=sorted(data))


@app.route("/visit")
def visit():
    session["visits"] = session.get("visits", 0) + 1
    return jsonify(visits=session["visits"])


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(name=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   field=request.form.get("note"))


@app.route("/stream")
def stream():
    def generate():
        for i in range(5):
            yield "line %d\n" % i
    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.route("/missing")
def missing():
    abort(404)


@app.route("/crash")
def crash():
    raise RuntimeError("flask view failed on purpose")


application = app
