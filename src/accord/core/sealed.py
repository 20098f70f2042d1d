"""Secrets the node must use again (a partner server's password or token) are
stored sealed: AES-256-GCM under a key derived (HKDF-SHA256) from the node's
secret key, which lives in its data directory, not in the database. A
database dump alone gives them away no more."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "sealed:v1:"


class Unsealable(ValueError):
    """Sealed under another secret key (the node's key was replaced)."""


def _key(purpose: str) -> bytes:
    info = f"accord sealed {purpose}".encode()
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    return kdf.derive(settings.SECRET_KEY.encode())


def seal(text: str, purpose: str) -> str:
    if not text:
        return ""
    nonce = os.urandom(12)
    sealed = AESGCM(_key(purpose)).encrypt(nonce, text.encode(), purpose.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(stored: str, purpose: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return stored  # written before sealing existed; sealed again on the next save
    raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
    try:
        return AESGCM(_key(purpose)).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
    except InvalidTag:
        raise Unsealable("sealed under another secret key") from None
