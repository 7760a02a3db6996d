"""Light load on every service for the observability tests; not a benchmark.

Every iteration sends each route once, in a fixed order: the tests wait for every route to
show up in Prometheus, and Locust's random choice among weighted tasks could leave one unsent
for as long as it likes.
"""

import os

from locust import FastHttpUser, constant, task

import asynclab.locust_exporter  # noqa: F401  (the plugin under test)
from asynclab.registry import SERVICES


class _Service(FastHttpUser):
    abstract = True
    wait_time = constant(0.2)

    @task
    def every_route(self) -> None:
        self.client.get("/json")
        self.client.get("/db")
        self.client.get("/io/db?ms=5", name="/io/db")
        with self.client.get("/items/1", name="/items/{id}", catch_response=True) as response:
            if response.status_code == 404:  # no item yet is a valid answer here
                response.success()


# One user class per service (FlaskUser at $FLASK_URL, ...): Locust runs every class it finds.
for _name in SERVICES:
    _user = f"{_name.title()}User"
    globals()[_user] = type(_user, (_Service,), {"host": os.environ[f"{_name.upper()}_URL"]})
