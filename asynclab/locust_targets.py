"""Locust plugin: a "Target" drop-down in the web UI that aims the run at one of the services.

The lab's Locust web UI loads it next to the scenarios
(``-f loadtests/,asynclab/locust_targets.py``); the runner never imports it, because importing
Locust monkey-patches the process with gevent.

``LOCUST_TARGETS="fastapi=http://127.0.0.1:8002,flask=http://127.0.0.1:8001"`` names the
services; the first is the default. Choosing one fills the Host field, which stays the single
source of truth: Locust's UI shows in its header what the Host field said when the run started,
so the drop-down must change the field itself, not only what the server receives.

``ASYNCLAB_TARGET="fastapi=http://10.0.0.5:8000"``, a service the lab did not start
(``asynclab/target.py``), comes last as ``fastapi (external)``, so that the lab's own service
of that framework keeps its entry: one variable in every mode (the native lab's setting,
compose's and a cluster's Locust environment).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Response, request
from locust import events
from locust.env import Environment

from asynclab.target import TargetError, parse_target

log = logging.getLogger(__name__)

# React owns the Host input: set it through the native setter and announce an input event, so
# that React's state (which the form submits and the header shows) follows the drop-down.
FILL_HOST_SCRIPT = """<script>
document.addEventListener("change", (event) => {
  const select = event.target;
  if (!(select instanceof HTMLSelectElement) || select.name !== "target") return;
  const url = select.value.split(" ").pop();
  const host = document.querySelector("input[name=host]");
  if (!host || !url.startsWith("http")) return;
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(host, url);
  host.dispatchEvent(new Event("input", { bubbles: true }));
});
</script>"""


def targets(text: str | None = None, external: str | None = None) -> dict[str, str]:
    """``targets("fastapi=http://a:1,flask=http://b:2", "fastapi=http://c:3")`` is
    ``{"fastapi": "http://a:1", "flask": "http://b:2", "fastapi (external)": "http://c:3"}``."""
    text = os.environ.get("LOCUST_TARGETS", "") if text is None else text
    external = os.environ.get("ASYNCLAB_TARGET", "") if external is None else external
    found: dict[str, str] = {}
    for part in text.split(","):
        name, _, url = part.strip().partition("=")
        if name.strip() and url.strip():
            found[name.strip()] = url.strip()
    if external.strip():
        try:
            target = parse_target(external)
        except TargetError as exc:
            # The lab refuses it before starting Locust; a cluster's Locust logs why it is left out.
            log.error("ASYNCLAB_TARGET=%s is not in the Target list: %s", external, exc)
        else:
            found[f"{target.label} (external)"] = target.url
    return found


def choices(known: dict[str, str]) -> list[str]:
    """Drop-down labels, ``["fastapi http://a:1", ...]``: the name for people, the URL last."""
    return [f"{name} {url}" for name, url in known.items()]


def _add_arguments(parser: Any) -> None:
    labels = choices(targets())
    if labels:
        parser.add_argument(
            "--target",
            choices=labels,
            default=labels[0],
            env_var="LOCUST_TARGET",
            help="Service under load: choosing one fills the Host field",
        )


def _with_script(response: Response) -> Response:
    if request.path == "/" and response.mimetype == "text/html" and targets():
        html = response.get_data(as_text=True)
        response.set_data(html.replace("</body>", FILL_HOST_SCRIPT + "</body>", 1))
    return response


def _on_init(environment: Environment, **_: Any) -> None:
    if environment.web_ui is not None and environment.web_ui.app is not None:
        environment.web_ui.app.after_request(_with_script)


events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
