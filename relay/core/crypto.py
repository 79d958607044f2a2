"""Secrets at rest: what Relay must keep readable (to sign, to log in) is stored encrypted.

A secret Relay has to use again cannot be hashed like an API key; it is
encrypted with ``RELAY_ENCRYPTION_KEY`` before it reaches the database, so a
database dump or backup holds only ciphertexts. Columns that hold one are
declared ``EncryptedField``; ``relay rotate-key`` finds them by that type.

Fernet (``cryptography``): AES-128-CBC with a random IV and an HMAC-SHA256 over
it all, so a ciphertext cannot be read nor altered without the key.
``RELAY_ENCRYPTION_KEY`` holds one key or several, comma-separated: the first
encrypts, every one decrypts (``MultiFernet``), so a new key is put first, the
old one kept after it until ``relay rotate-key`` has re-encrypted every stored
secret with the new one.

Each process installs the keys once at start-up (``install_keys``, called by
the composition root, ``relay.cli.main``); ``encrypt_secret`` and
``decrypt_secret`` then work anywhere in the process. Plaintexts live only in
process memory: never in Redis, logs or events.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from tortoise import fields

KEY_BYTES = 32


class SecretDecryptionError(RuntimeError):
    """A stored secret that none of the installed keys can decrypt."""


def normalize_key(text: str) -> str:
    """One key as Fernet wants it: 32 random bytes, url-safe base64 (padding and ``+/`` tolerated).

    ``secrets.token_urlsafe(32)``, ``openssl rand -base64 32`` and ``Fernet.generate_key()`` all fit.
    """
    stripped = text.strip()
    try:
        raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not base64") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must decode to {KEY_BYTES} bytes, not {len(raw)}")
    return base64.urlsafe_b64encode(raw).decode()


def parse_keys(text: str) -> tuple[str, ...]:
    """``RELAY_ENCRYPTION_KEY``: comma-separated keys, the one that encrypts first."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("needs at least one key")
    keys = []
    for position, part in enumerate(parts, start=1):
        try:
            keys.append(normalize_key(part))
        except ValueError as exc:
            raise ValueError(f"key {position} {exc}") from exc
    return tuple(keys)


class Keyring:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        fernets = [Fernet(normalize_key(key)) for key in keys]
        self._first = fernets[0]
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretDecryptionError(_UNREADABLE) from None

    def is_current(self, ciphertext: str) -> bool:
        """Whether the first key (the one that encrypts) reads this ciphertext."""
        try:
            self._first.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def reencrypt(self, ciphertext: str) -> str:
        """The same secret under the first key (a fresh IV even when it already was)."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretDecryptionError(_UNREADABLE) from None


_UNREADABLE = (
    "a stored secret cannot be decrypted with any key in RELAY_ENCRYPTION_KEY "
    "(was the key replaced without keeping the old one after it?)"
)
_installed: Keyring | None = None


def install_keys(keys: Sequence[str]) -> None:
    """Make ``keys`` this process's keyring (the composition root does it at start-up)."""
    global _installed
    _installed = Keyring(keys)


def keyring() -> Keyring:
    if _installed is None:
        raise RuntimeError("no encryption keys installed: call relay.core.crypto.install_keys at start-up")
    return _installed


def encrypt_secret(plaintext: str) -> str:
    return keyring().encrypt(plaintext)


def decrypt_secret(ciphertext: str) -> str:
    return keyring().decrypt(ciphertext)


class EncryptedField(fields.TextField):
    """A column holding ``encrypt_secret`` ciphertexts, never a plaintext.

    Only a type: the model's code encrypts and decrypts explicitly, so reading
    the code shows where a plaintext exists. ``relay rotate-key`` re-encrypts
    every column of this type.
    """


__all__ = [
    "EncryptedField",
    "Keyring",
    "SecretDecryptionError",
    "decrypt_secret",
    "encrypt_secret",
    "install_keys",
    "keyring",
    "normalize_key",
    "parse_keys",
]
