"""This node's identity: id, party, agency, whether it holds its party's
central authority, and its two key pairs.

The private keys live in the data directory, each in its own 0600 file, and
never in the database, so a database dump does not carry them."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from accord.core import calendars
from accord.core.canonical import canonical_bytes, sha256_hex

PROTOCOL_VERSION = 1
NODE_FILE = "node.json"
SIGNING_KEY_FILE = "signing.key"
ENCRYPTION_KEY_FILE = "encryption.key"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret  # nosec B105
NODE_FILES = (NODE_FILE, SIGNING_KEY_FILE, ENCRYPTION_KEY_FILE, SECRET_KEY_FILE)
PREVIOUS = ".previous"

NODE_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,30}(\.[a-z][a-z0-9-]{0,30}){1,3}$")


class IdentityError(Exception):
    """A node identity that is missing, malformed or would be overwritten."""


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    party: str
    agency: str
    signing_key: SigningKey
    encryption_key: PrivateKey
    # A party (a state) has one or more agency nodes; one of them holds the
    # party's central authority, which receives and screens the other side's
    # requests and may assign their execution to another agency of its party.
    central_authority: bool = True
    # Kept after a key rotation until every peer has applied the announcement.
    previous_signing_key: SigningKey | None = None
    previous_encryption_key: PrivateKey | None = None

    @property
    def signing_public(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def encryption_public(self) -> bytes:
        return bytes(self.encryption_key.public_key)

    @property
    def fingerprint(self) -> str:
        """The node's fingerprint is its signing key's: that key vouches for the rest."""
        return key_fingerprint(self.signing_public)

    def public_document(self) -> dict:
        """The identity peers pin, signed by the node's signing key (the key the
        fingerprint names), so pinning the fingerprint authenticates all of it."""
        document = self._unsigned_document()
        document["signature"] = b64(self.signing_key.sign(canonical_bytes(document)).signature)
        return document

    def _unsigned_document(self) -> dict:
        return {
            "node_id": self.node_id,
            "party": self.party,
            "agency": self.agency,
            "central_authority": self.central_authority,
            "protocol_version": PROTOCOL_VERSION,
            "fingerprint": self.fingerprint,
            # The partner counts the deadlines this node owns in this calendar.
            "calendar": calendars.here().document(),
            "keys": {
                "signing": {
                    "algorithm": "Ed25519",
                    "public_key": b64(self.signing_public),
                    "fingerprint": key_fingerprint(self.signing_public),
                },
                "encryption": {
                    "algorithm": "X25519",
                    "public_key": b64(self.encryption_public),
                    "fingerprint": key_fingerprint(self.encryption_public),
                },
            },
        }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of the raw public key, lower-case hex (what an officer reads out)."""
    return sha256_hex(public_key)


def validate_node_fields(node_id: str, party: str, agency: str) -> None:
    if not NODE_ID_PATTERN.match(node_id):
        raise IdentityError(
            f"node id {node_id!r} must be lower-case dotted words, like cn.mps or us.doj"
        )
    for label, value in (("party", party), ("agency", agency)):
        if not value.strip() or len(value) > 200:
            raise IdentityError(f"{label} must be 1 to 200 characters")


def existing_node_files(data_dir: Path) -> list[str]:
    return [name for name in NODE_FILES if (data_dir / name).exists()]


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content + "\n")
    os.chmod(path, 0o600)


def write_identity(
    data_dir: Path, node_id: str, party: str, agency: str, *, central_authority: bool = True
) -> NodeIdentity:
    """Generate fresh keys and write them; refuses if any node file exists.
    node.json is written last: its presence marks a complete node."""
    validate_node_fields(node_id, party, agency)
    present = existing_node_files(data_dir)
    if present:
        raise IdentityError(
            f"{data_dir} already holds a node ({', '.join(present)}); refusing to overwrite it"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = NodeIdentity(
        node_id=node_id,
        party=party.strip(),
        agency=agency.strip(),
        central_authority=central_authority,
        signing_key=SigningKey.generate(),
        encryption_key=PrivateKey.generate(),
    )
    _write_private(data_dir / SECRET_KEY_FILE, secrets.token_urlsafe(50))
    _write_private(data_dir / SIGNING_KEY_FILE, b64(bytes(identity.signing_key)))
    _write_private(data_dir / ENCRYPTION_KEY_FILE, b64(bytes(identity.encryption_key)))
    node = {
        "node_id": identity.node_id,
        "party": identity.party,
        "agency": identity.agency,
        "central_authority": identity.central_authority,
    }
    _write_private(data_dir / NODE_FILE, json.dumps(node, ensure_ascii=False, indent=2))
    return identity


def _read_key(path: Path) -> bytes:
    try:
        raw = base64.b64decode(path.read_text().strip(), validate=True)
    except FileNotFoundError:
        raise IdentityError(f"{path} is missing") from None
    except ValueError:
        raise IdentityError(f"{path} is not a base64 key") from None
    if len(raw) != 32:
        raise IdentityError(f"{path} does not hold a 32-byte key")
    return raw


def read_identity(data_dir: Path) -> NodeIdentity:
    node_path = data_dir / NODE_FILE
    try:
        node = json.loads(node_path.read_text())
    except FileNotFoundError:
        raise IdentityError(
            f"no node in {data_dir}: run `accord init` (or set ACCORD_DATA_DIR)"
        ) from None
    except json.JSONDecodeError as exc:
        raise IdentityError(f"{node_path} is not valid JSON: {exc}") from None
    try:
        identity = NodeIdentity(
            node_id=node["node_id"],
            party=node["party"],
            agency=node["agency"],
            # A node made before parties had several agencies holds its central authority.
            central_authority=node.get("central_authority", True),
            signing_key=SigningKey(_read_key(data_dir / SIGNING_KEY_FILE)),
            encryption_key=PrivateKey(_read_key(data_dir / ENCRYPTION_KEY_FILE)),
            previous_signing_key=_optional(data_dir / (SIGNING_KEY_FILE + PREVIOUS), SigningKey),
            previous_encryption_key=_optional(
                data_dir / (ENCRYPTION_KEY_FILE + PREVIOUS), PrivateKey
            ),
        )
    except KeyError as exc:
        raise IdentityError(f"{node_path} lacks {exc.args[0]!r}") from None
    if not isinstance(identity.central_authority, bool):
        raise IdentityError(f"{node_path}: central_authority must be true or false")
    validate_node_fields(identity.node_id, identity.party, identity.agency)
    return identity


def _optional(path: Path, kind: type) -> Any:
    return kind(_read_key(path)) if path.exists() else None


def _key_stamp(data_dir: Path) -> tuple[int, int]:
    """Changes when node.json is replaced, which `install_rotated_keys` does
    last, once both new keys are in place: a process never caches a mix."""
    try:
        status = os.stat(_node_file(data_dir))
    except FileNotFoundError:
        return (0, 0)
    return (status.st_ino, status.st_mtime_ns)


@cache
def _node_file(data_dir: Path) -> str:
    return str(data_dir / NODE_FILE)


@cache
def _identity_at(data_dir: Path, stamp: tuple[int, ...]) -> NodeIdentity:
    return read_identity(data_dir)


def this_node() -> NodeIdentity:
    """This node's identity, as the files hold it now. Every call looks (one
    stat, microseconds): `accord keys rotate` publishes the new keys before its
    announcement can leave, so from then on every process (each web worker,
    the deliverer) serves and signs with them. A cache with a time to live let
    workers serve the old identity for up to that long, and a partner pinning
    the new fingerprint meanwhile saw a mismatch."""
    data_dir = settings.DATA_DIR
    return _identity_at(data_dir, _key_stamp(data_dir))


def _clear_identity_cache() -> None:
    _identity_at.cache_clear()


this_node.cache_clear = _clear_identity_cache  # type: ignore[attr-defined]


def install_rotated_keys(data_dir: Path, signing: SigningKey, encryption: PrivateKey) -> None:
    """Make the new keys current and keep the old ones as `.previous`. Every
    step is a copy or an atomic rename: a crash never leaves a key file missing."""
    for name, key in ((SIGNING_KEY_FILE, signing), (ENCRYPTION_KEY_FILE, encryption)):
        current = data_dir / name
        for suffix, content in ((PREVIOUS, current.read_text().strip()), ("", b64(bytes(key)))):
            staged = data_dir / (name + suffix + ".next")
            staged.unlink(missing_ok=True)
            _write_private(staged, content)
            os.replace(staged, data_dir / (name + suffix))
    _publish(data_dir)
    _clear_identity_cache()


def _publish(data_dir: Path) -> None:
    """Replace node.json by a copy of itself: its new inode and time tell every
    process, at once, that the keys changed (see `_key_stamp`)."""
    node = data_dir / NODE_FILE
    staged = data_dir / (NODE_FILE + ".next")
    staged.unlink(missing_ok=True)
    _write_private(staged, node.read_text().rstrip("\n"))
    os.replace(staged, node)
