"""A few seconds of light load on both services for the observability tests; not a benchmark."""

import os

from locust import FastHttpUser, constant, task

import asynclab.locust_exporter  # noqa: F401  (the plugin under test)


class _Service(FastHttpUser):
    abstract = True
    wait_time = constant(0.2)

    @task(3)
    def json_(self) -> None:
        self.client.get("/json")

    @task
    def db(self) -> None:
        self.client.get("/db")

    @task
    def io_db(self) -> None:
        self.client.get("/io/db?ms=5", name="/io/db")

    @task
    def item(self) -> None:
        with self.client.get("/items/1", name="/items/{id}", catch_response=True) as response:
            if response.status_code == 404:  # no item yet is a valid answer here
                response.success()


class FlaskUser(_Service):
    host = os.environ["FLASK_URL"]


class FastapiUser(_Service):
    host = os.environ["FASTAPI_URL"]
