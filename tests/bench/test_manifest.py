"""The manifest records how Postgres commits as Postgres itself reports it, and every setting
but the database password."""

from __future__ import annotations

import json

from helpers import LabSettingsFactory

from asynclab.bench.manifest import build_manifest, postgres_facts
from asynclab.bench.profiles import get_profile
from asynclab.lab import Lab
from asynclab.settings import MASK


def test_postgres_says_how_it_commits(lab: Lab) -> None:
    facts = postgres_facts(lab.settings)
    assert facts["synchronous_commit"] == lab.settings.postgres_synchronous_commit == "on"
    assert facts["fsync"] == "on"
    assert facts["wal_sync_method"]
    assert facts["source"].startswith("SHOW")


def test_without_postgres_the_setting_is_recorded_with_the_reason(
    lab_settings_factory: LabSettingsFactory,
) -> None:
    # Nothing listens on this lab's Postgres port: it was never started.
    settings = lab_settings_factory(postgres_synchronous_commit="off")
    facts = postgres_facts(settings)
    assert facts["synchronous_commit"] == "off"
    assert facts["source"].startswith("settings: Postgres did not answer")
    assert "fsync" not in facts


def test_the_results_manifest_shows_no_password(lab_settings_factory: LabSettingsFactory) -> None:
    settings = lab_settings_factory(postgres_password="pw-results-7f3a")
    manifest = build_manifest(settings, get_profile("smoke"), {}, {"urls": {}}, None, {})
    assert "pw-results-7f3a" not in json.dumps(manifest)
    assert manifest["settings"]["postgres_password"] == MASK
    assert manifest["settings"]["postgres_user"] == settings.postgres_user
