"""pydantic 2 (pydantic-core, a PyO3 extension that refuses a second interpreter): POST /order
validates a JSON order and returns its total."""
import json
import os

from pydantic import BaseModel, ValidationError, conint


class Line(BaseModel):
    sku: str
    quantity: conint(gt=0)
    price: float


class Order(BaseModel):
    customer: str
    lines: list[Line]


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    try:
        order = Order.model_validate_json(body)
        status, data = "200 OK", {"customer": order.customer, "pid": os.getpid(),
                                  "total": sum(l.quantity * l.price for l in order.lines)}
    except ValidationError as e:
        status, data = "422 Unprocessable Content", {"errors": e.error_count()}
    out = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(out)))])
    return [out]
