"""Flask + SQLAlchemy 2.1 (whose Cython extensions refuse own-GIL interpreters): /add?name
inserts a row into this process's SQLite database, /count counts them, /pid says who served."""
import os
import threading

from flask import Flask, jsonify, request
from sqlalchemy import Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


engine = create_engine("sqlite://", connect_args={"check_same_thread": False},
                       poolclass=StaticPool)
Base.metadata.create_all(engine)
lock = threading.Lock()
application = Flask(__name__)


@application.route("/add")
def add():
    with lock, Session(engine) as session:
        session.add(Item(name=request.query_string.decode() or "x"))
        session.commit()
        count = session.scalar(select(func.count()).select_from(Item))
    return jsonify(count=count, pid=os.getpid())


@application.route("/pid")
def pid():
    import sqlalchemy
    return jsonify(pid=os.getpid(), version=sqlalchemy.__version__)
