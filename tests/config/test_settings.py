"""Settings: an unknown DRIFTLOOP_* variable is an error naming it; built settings are frozen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from driftloop.config.errors import InputError
from driftloop.config.settings import Settings, known_variables, unknown_variables

from ..support.paths import ROOT


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No DRIFTLOOP_* variable from the test process, a state folder under tmp_path."""
    import os

    for name in [k for k in os.environ if k.upper().startswith("DRIFTLOOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DRIFTLOOP_STATE_DIR", str(tmp_path / "state"))
    return monkeypatch


def test_a_nested_typo_is_an_error_naming_it_and_the_setting_meant(clean_env) -> None:
    clean_env.setenv("DRIFTLOOP_SERVER__MONITOR_EVERY_ROW", "0")
    with pytest.raises(InputError) as raised:
        Settings()
    message = str(raised.value)
    assert "DRIFTLOOP_SERVER__MONITOR_EVERY_ROW " in message
    assert "did you mean DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS?" in message
    assert raised.value.exit_code == 2


def test_a_top_level_typo_is_an_error_naming_it(clean_env) -> None:
    clean_env.setenv("DRIFTLOOP_STORE_URI", "file:///tmp/x")
    clean_env.setenv("driftloop_admn_token", "t")  # read case-insensitively, checked so too
    with pytest.raises(InputError, match="DRIFTLOOP_STORE_URI .*did you mean DRIFTLOOP_STORE_URL"):
        Settings()
    assert unknown_variables({"DRIFTLOOP_STORE_URI": "", "driftloop_admn_token": ""}) == [
        "DRIFTLOOP_STORE_URI",
        "driftloop_admn_token",
    ]


def test_known_variables_and_other_prefixes_are_accepted(clean_env) -> None:
    clean_env.setenv("DRIFTLOOP_SERVER__MONITOR_EVERY_ROWS", "0")
    clean_env.setenv("driftloop_json_logs", "true")
    clean_env.setenv("DRIFTLOOPX", "not ours")
    settings = Settings()
    assert settings.server.monitor_every_rows == 0 and settings.json_logs is True


def test_an_unknown_key_in_a_nested_json_value_is_rejected(clean_env) -> None:
    clean_env.setenv("DRIFTLOOP_SERVER", '{"port": 9000, "prot": 1}')
    with pytest.raises(ValidationError) as raised:
        Settings()
    (error,) = raised.value.errors()
    assert error["loc"] == ("server", "prot") and error["type"] == "extra_forbidden"


def test_an_unknown_keyword_is_rejected(clean_env) -> None:
    with pytest.raises(ValidationError, match="stor_url"):
        Settings(stor_url="file:///tmp/x")


def test_settings_are_frozen_at_every_level(clean_env) -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.env = "production"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.server.monitor_every_rows = 0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.webhook.url = "http://127.0.0.1:9/"  # type: ignore[misc]
    changed = settings.model_copy(
        update={"webhook": settings.webhook.model_copy(update={"url": "http://127.0.0.1:9/"})}
    )
    assert changed.webhook.url == "http://127.0.0.1:9/" and settings.webhook.url is None


def test_defaults_resolve_against_the_state_folder(clean_env, tmp_path) -> None:
    settings = Settings()
    state = (tmp_path / "state").resolve()
    assert settings.state_dir == state
    assert settings.store == (state / "store").as_uri()
    assert settings.tracking_uri == f"sqlite:///{state / 'mlflow.db'}"
    given = Settings(state_dir="rel", store_url="file:///elsewhere")
    assert given.state_dir.is_absolute() and given.store == "file:///elsewhere"


def test_every_variable_the_deployment_and_docs_name_is_a_setting() -> None:
    """A manifest, image or page that sets a misspelled variable would now stop the program."""
    files = [ROOT / "README.md", ROOT / "docker" / "driftloop" / "Dockerfile"]
    files += [p for p in (ROOT / "docs").rglob("*.md")]
    files += [p for p in (ROOT / "deploy").rglob("*") if p.is_file()]
    named = {
        (p.relative_to(ROOT), m)
        for p in files
        for m in re.findall(r"DRIFTLOOP_[A-Z0-9_]*[A-Z0-9]", p.read_text(errors="replace"))
    }
    assert len(named) > 20  # the scan found the deployment's variables
    # the docs show this one misspelling on purpose, as the example of the error it gets
    typo_examples = {"DRIFTLOOP_SERVER__MONITOR_EVERY_ROW"}
    unknown = [(str(p), m) for p, m in named if m not in known_variables() | typo_examples]
    assert sorted(unknown) == []
