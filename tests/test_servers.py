"""The test servers themselves start and answer."""

import socket
import urllib.request

import psycopg


def test_mosquitto_accepts_connections(mosquitto):
    with socket.create_connection(("127.0.0.1", mosquitto.port), timeout=2):
        pass


def test_influxdb_answers_ping(influxdb):
    with urllib.request.urlopen(f"http://127.0.0.1:{influxdb.port}/ping") as r:
        assert r.status == 204


def test_postgres_answers_a_query(pg_url):
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
