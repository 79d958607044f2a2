"""RELAY_ENCRYPTION_KEY: the keys an operator may give, and what each key can read."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest

from relay.core.config import ConfigError, Settings
from relay.core.crypto import Keyring, SecretDecryptionError, parse_keys


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_unset_generates_one_key_kept_private_under_the_data_dir(tmp_path: Path) -> None:
    first = Settings.from_env({"RELAY_DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"RELAY_DATA_DIR": str(tmp_path)})
    assert len(first.encryption_keys) == 1 and first.encryption_keys == second.encryption_keys
    key_file = tmp_path / "encryption_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert parse_keys(key_file.read_text()) == first.encryption_keys
    assert first.encryption_keys[0] not in repr(first)


RAW = os.urandom(32)


@pytest.mark.parametrize(
    "written",
    [
        base64.urlsafe_b64encode(RAW).decode(),  # Fernet.generate_key()
        base64.urlsafe_b64encode(RAW).decode().rstrip("="),  # secrets.token_urlsafe(32)
        base64.b64encode(RAW).decode(),  # openssl rand -base64 32
    ],
)
def test_common_ways_of_writing_32_random_bytes_are_one_key(written: str) -> None:
    (key,) = parse_keys(written)
    assert base64.urlsafe_b64decode(key) == RAW


def test_several_keys_keep_their_order(tmp_path: Path) -> None:
    new, old = new_key(), new_key()
    settings = Settings.from_env(
        {"RELAY_DATA_DIR": str(tmp_path), "RELAY_ENCRYPTION_KEY": f" {new} , {old} "}
    )
    assert settings.encryption_keys == (new, old)
    assert not (tmp_path / "encryption_key").exists()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("short", "key 1 is not base64"),
        (base64.b64encode(os.urandom(16)).decode(), "key 1 must decode to 32 bytes, not 16"),
        (f"{new_key()},{secrets.token_hex(8)}", "key 2 must decode to 32 bytes"),
        ("not base64 at all!!", "key 1"),
        (" , ", "needs at least one key"),
    ],
)
def test_a_key_that_is_not_32_bytes_of_base64_is_refused_at_start_up(
    tmp_path: Path, value: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=f"RELAY_ENCRYPTION_KEY: {reason}"):
        Settings.from_env({"RELAY_DATA_DIR": str(tmp_path), "RELAY_ENCRYPTION_KEY": value})


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    under_old = Keyring([old]).encrypt("whsec_old")
    both = Keyring([new, old])
    under_new = both.encrypt("whsec_new")
    assert both.decrypt(under_old) == "whsec_old" and both.decrypt(under_new) == "whsec_new"
    assert both.is_current(under_new) and not both.is_current(under_old)
    moved = both.reencrypt(under_old)
    assert both.is_current(moved) and Keyring([new]).decrypt(moved) == "whsec_old"
    # Two encryptions of one secret differ: a ciphertext says nothing about equal secrets.
    assert both.encrypt("whsec_new") != under_new


def test_a_secret_under_a_dropped_key_says_what_went_wrong() -> None:
    stored = Keyring([new_key()]).encrypt("whsec_lost")
    with pytest.raises(SecretDecryptionError, match="RELAY_ENCRYPTION_KEY"):
        Keyring([new_key()]).decrypt(stored)


def test_a_ciphertext_altered_in_the_database_is_refused_not_misread() -> None:
    keys = Keyring([new_key()])
    stored = base64.urlsafe_b64decode(keys.encrypt("whsec_kept"))
    flipped = stored[:40] + bytes([stored[40] ^ 1]) + stored[41:]
    with pytest.raises(SecretDecryptionError):
        keys.decrypt(base64.urlsafe_b64encode(flipped).decode())
