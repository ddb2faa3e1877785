"""Token sources of a pillar run on its own: the static token file (hashes only, rotation without a
restart, the last good set kept when the file breaks) and the start-up rule (auth on without any
source is an error naming the settings, not an open or closed listener)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from airdig.backends.registry import open_store
from airdig.edge.roles import WRITE_ROLE, may, refusal
from airdig.edge.sources import pillar_tokens
from airdig.edge.tokenfile import AnyOf, TokenFile
from airdig.engine.auth import Authenticator, Principal, TokenService
from airdig.errors import ConfigError, Unauthorized
from airdig.settings import Settings

TOKEN_A = "adg_first-token-0123456789"
TOKEN_B = "adg_second-token-abcdefghij"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp, stamp))  # a different mtime, whatever the file system's resolution


def test_file_accepts_listed_tokens_by_value_or_hash_and_refuses_others(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    digest = hashlib.sha256(TOKEN_B.encode()).hexdigest()
    write(f, f"# collectors\n{TOKEN_A} otel-collector\n\nsha256:{digest}   payments  # sdk\n", 1)
    tokens = TokenFile(str(f))
    assert tokens.principal(f"Bearer {TOKEN_A}").name == "otel-collector"
    assert asyncio.run(tokens.aprincipal(f"bearer {TOKEN_B}")).name == "payments"
    for bad in (None, "", TOKEN_A, f"Basic {TOKEN_A}", "Bearer ", f"Bearer {TOKEN_A}x", f"Bearer sha256:{digest}"):
        with pytest.raises(Unauthorized):
            tokens.principal(bad)


def test_file_is_reread_when_it_changes_and_a_broken_file_keeps_the_last_good_set(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    write(f, TOKEN_A + "\n", 1_000_000_000)
    clock = Clock()
    tokens = TokenFile(str(f), reload_seconds=5, clock=clock)
    write(f, TOKEN_B + "\n", 2_000_000_000)  # the Secret was rotated
    assert tokens.principal(f"Bearer {TOKEN_A}")  # not looked at again before reload_seconds
    clock.now = 6
    assert tokens.principal(f"Bearer {TOKEN_B}")
    with pytest.raises(Unauthorized):
        tokens.principal(f"Bearer {TOKEN_A}")
    write(f, "# emptied by mistake\n", 3_000_000_000)
    clock.now = 12
    assert tokens.principal(f"Bearer {TOKEN_B}")
    f.unlink()
    clock.now = 18
    assert tokens.principal(f"Bearer {TOKEN_B}")


def test_file_lines_carry_the_roles_of_the_engines_tokens(tmp_path: Path) -> None:
    """``role=`` gives a line viewer, editor or admin; a line without it is an editor (it may send data
    in, as every file token could before roles); the name is what is left of the line."""
    f = tmp_path / "tokens"
    digest = hashlib.sha256(TOKEN_B.encode()).hexdigest()
    write(f, f"{TOKEN_A} dash boards role=viewer\nsha256:{digest}\n{'adg_third-token-0123456789'} ops ROLE=admin\n", 1)
    tokens = TokenFile(str(f))
    viewer, plain, admin = (tokens.principal(f"Bearer {t}") for t in (TOKEN_A, TOKEN_B, "adg_third-token-0123456789"))
    assert (viewer.name, viewer.role) == ("dash boards", "viewer")
    assert (plain.name, plain.role) == ("token-line-2", "editor")
    assert (admin.name, admin.role) == ("ops", "admin")
    assert may(plain, WRITE_ROLE) and may(admin, WRITE_ROLE) and not may(viewer, WRITE_ROLE)
    assert may(viewer, "viewer") and not may("a caller without a role", "viewer")
    assert "'dash boards' has viewer" in refusal(viewer, WRITE_ROLE)


@pytest.mark.parametrize("text, message", [("", "holds no token"), ("short\n", "line 1: a token must be"),
                                          ("sha256:abc\n", "line 1: sha256: needs 64 hex digits"),
                                          ("adg_first-token-0123456789 ci role=root\n", "line 1: role= must be"),
                                          ("adg_first-token-0123456789 role=viewer role=admin\n",
                                           "line 1: role= must be given once")])
def test_a_useless_file_is_a_start_up_error_that_never_echoes_a_line(tmp_path: Path, text: str,
                                                                    message: str) -> None:
    f = tmp_path / "tokens"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        TokenFile(str(f))
    if text.strip():
        assert text.strip() not in str(err.value)
    with pytest.raises(ConfigError, match="cannot read the token file"):
        TokenFile(str(tmp_path / "missing"))


def test_any_of_tries_each_source() -> None:
    class Only:
        def __init__(self, token: str) -> None:
            self.token = token

        def principal(self, authorization: str | None) -> str:
            if authorization != f"Bearer {self.token}":
                raise Unauthorized("no")
            return self.token

        async def aprincipal(self, authorization: str | None) -> str:
            return self.principal(authorization)

    both = AnyOf([Only(TOKEN_A), Only(TOKEN_B)])
    assert both.principal(f"Bearer {TOKEN_B}") == TOKEN_B
    assert asyncio.run(both.aprincipal(f"Bearer {TOKEN_A}")) == TOKEN_A
    with pytest.raises(Unauthorized):
        both.principal("Bearer other-token-123456")


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.load(environ={"AIRDIG_DATA_DIR": str(tmp_path), **env})


def test_auth_on_without_a_token_source_does_not_start(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "127.0.0.1"):
        with pytest.raises(ConfigError, match="tracecore has no token source") as err:
            pillar_tokens(_settings(tmp_path), "tracecore", host)
        assert "AIRDIG_TOKEN_STORE" in str(err.value) and "AIRDIG_TOKENS_FILE" in str(err.value)
    # PulseSight's own shared secret is a credential: no token source needed
    assert pillar_tokens(_settings(tmp_path), "pulsesight", "0.0.0.0", other_credential=True) == (None, [])
    # off is accepted on loopback only
    assert pillar_tokens(_settings(tmp_path, AIRDIG_AUTH="off"), "tracecore", "127.0.0.1") == (None, [])
    with pytest.raises(ConfigError, match="only when every listener is on loopback"):
        pillar_tokens(_settings(tmp_path, AIRDIG_AUTH="off"), "tracecore", "0.0.0.0")


def test_token_store_source_checks_the_engines_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'airdig.db'}"
    unmigrated = _settings(tmp_path, AIRDIG_DATABASE_URL=url, AIRDIG_TOKEN_STORE="on")
    with pytest.raises(ConfigError, match="airdig db migrate"):
        pillar_tokens(unmigrated, "tracecore", "0.0.0.0")
    store = open_store(url)
    store.migrate()
    token, _ = TokenService(store).create("collector", "viewer")
    f = tmp_path / "tokens"
    f.write_text(TOKEN_A + " static\n")
    check, owned = pillar_tokens(_settings(tmp_path, AIRDIG_DATABASE_URL=url, AIRDIG_TOKEN_STORE="on",
                                           AIRDIG_TOKENS_FILE=str(f)), "tracecore", "0.0.0.0")
    try:
        assert check is not None
        found = check.principal(f"Bearer {token}")
        assert isinstance(found, Principal) and found.name == "collector"
        assert check.principal(f"Bearer {TOKEN_A}").name == "static"
        TokenService(store).revoke("collector")
        fresh = Authenticator(owned[0], required=True)  # past the 5 s cache, a revoked token is refused
        with pytest.raises(Unauthorized):
            fresh.principal(f"Bearer {token}")
    finally:
        for thing in owned:
            thing.close()
        store.close()


def test_standalone_pulsesight_without_any_credential_does_not_start(tmp_path: Path) -> None:
    """`airdig pulsesight serve` with auth on (the default) and neither a secret nor a token source: a
    start-up error naming the settings, not an open read API on loopback."""
    from click.testing import CliRunner

    from airdig.cli.main import cli

    res = CliRunner().invoke(cli, ["pulsesight", "serve", "--data-dir", str(tmp_path)], env={})
    assert res.exit_code != 0
    assert "pulsesight has no token source" in res.output and "AIRDIG_TOKENS_FILE" in res.output
