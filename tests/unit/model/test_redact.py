from __future__ import annotations

import pytest

from airdig.model.redact import REDACTED, is_secret_key, redact, redact_path_value


@pytest.mark.parametrize("key", ["password", "master_password", "DB_PASSWORD", "secretAccessKey", "token",
                                 "private_key", "auth_token", "MasterUserPassword", "client_secret", "api_key"])
def test_secret_like_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["kms_key_id", "secret_arn", "password_length", "userName", "tokenType", "name",
                                 "accessKeyId"])
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_keys_and_paths_without_touching_the_input() -> None:
    value = {"masterUserPassword": "p", "conf": {"list": [{"x": 1}, {"x": 2}]}, "empty_password": ""}
    out = redact(value, [("conf", "list", 1, "x")])
    assert out == {"masterUserPassword": REDACTED, "conf": {"list": [{"x": 1}, {"x": REDACTED}]},
                   "empty_password": ""}
    assert value["masterUserPassword"] == "p"


def test_redact_path_value() -> None:
    assert redact_path_value("environment.API_TOKEN", "abc") == REDACTED
    assert redact_path_value("instance_type", "t3.large") == "t3.large"
    assert redact_path_value("tags.Owner", {"password": "x"}) == {"password": REDACTED}
