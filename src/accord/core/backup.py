"""Back-up and restore of a whole node (docs/operations.md, "Back-up and restore").

A back-up is one tar archive:

    manifest.json          format, version, node id, created_at, database vendor,
                           migrations, and the sha256 and size of every other member
    database.sqlite3       SQLite: a consistent copy (the sqlite3 online back-up API)
    database.pgdump        PostgreSQL: `pg_dump --format=custom` (restored with pg_restore)
    data/...               the data directory: node.json, the key files, secret_key,
                           stored evidence and every other file the node keeps there

The database is copied first and the files after it, so every stored file the
copied database names is in the archive (files are written before the rows
that name them). Restore checks the whole archive before it writes anything,
onto an empty data directory and an empty database only, then marks every
channel as recovering (federation.recovery): the peers hold what happened
after the back-up."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess  # nosec B404 - pg_dump/pg_restore with fixed arguments
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils.translation import gettext as _

from accord.core import identity

FORMAT = "accord-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA_PREFIX = "data/"
DATABASE_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
CHUNK = 1 << 20


class BackupError(Exception):
    """A back-up that cannot be written, or an archive that cannot be restored."""


def vendor() -> str:
    return connection.vendor


def _sqlite_path() -> Path:
    return Path(str(settings.DATABASES["default"]["NAME"])).resolve()


def _sqlite_companions(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def _pg_command(program: str) -> tuple[list[str], dict[str, str]]:
    """The program with the connection of the default database, password in the environment."""
    if shutil.which(program) is None:
        raise BackupError(_("%(program)s is not installed on this host.") % {"program": program})
    db = settings.DATABASES["default"]
    args = [program, "--no-owner", "--no-privileges"]
    for flag, value in (("--host", db.get("HOST")), ("--port", db.get("PORT"))):
        if value:
            args += [flag, str(value)]
    if db.get("USER"):
        args += ["--username", str(db.get("USER"))]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- back-up


def _dump_database(target: Path) -> None:
    if vendor() == "sqlite":
        source = sqlite3.connect(_sqlite_path())
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return
    args, env = _pg_command("pg_dump")
    args += ["--format=custom", "--file", str(target), str(settings.DATABASES["default"]["NAME"])]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # nosec B603
    if done.returncode != 0:
        raise BackupError(f"pg_dump: {done.stderr.strip()}")


def _data_files(skip: set[Path]) -> list[Path]:
    """Every regular file of the data directory, but the live SQLite database
    (copied consistently instead) and anything under `skip`."""
    root = Path(settings.DATA_DIR).resolve()
    files = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            if any(path == s or s in path.parents for s in skip):
                continue
            files.append(path)
    return files


def _migrations() -> dict[str, str]:
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        latest[app] = max(latest.get(app, ""), name)
    return dict(sorted(latest.items()))


def create(path: Path) -> dict[str, Any]:
    """Write a back-up of this node to `path` (a new file); returns its manifest."""
    path = path.resolve()
    if path.exists():
        raise BackupError(_("%(path)s exists already; give a new file.") % {"path": path})
    node = identity.this_node()
    kind = vendor()
    skip = {path, path.with_name(path.name + ".partial")}
    if kind == "sqlite":
        skip.update(_sqlite_companions(_sqlite_path()))
    with tempfile.TemporaryDirectory(prefix=".accord-backup-", dir=path.parent) as tmp:
        database = Path(tmp) / DATABASE_MEMBER[kind]
        _dump_database(database)  # first: the files after it include all it names
        root = Path(settings.DATA_DIR).resolve()
        members: list[tuple[str, Path]] = [(DATABASE_MEMBER[kind], database)]
        members += [
            (DATA_PREFIX + f.relative_to(root).as_posix(), f)
            for f in _data_files(skip | {Path(tmp)})
        ]
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "node_id": node.node_id,
            "fingerprint": node.fingerprint,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": {"vendor": kind, "member": DATABASE_MEMBER[kind]},
            "migrations": _migrations(),
            "members": {
                name: {"sha256": _sha256(source), "size": source.stat().st_size}
                for name, source in members
            },
        }
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as stream, tarfile.open(fileobj=stream, mode="w") as archive:
            text = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(text), 0o600, int(datetime.now(UTC).timestamp())
            archive.addfile(info, io.BytesIO(text))
            for name, source in members:
                info = archive.gettarinfo(str(source), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with source.open("rb") as content:
                    archive.addfile(info, content)
        partial.rename(path)
    return manifest


# ---------------------------------------------------------------- restore


@dataclass
class Checked:
    manifest: dict[str, Any]
    folder: Path  # every member, extracted and checked


def _member_path(name: str) -> PurePosixPath:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise BackupError(_("The archive names a file outside it: %(name)s") % {"name": name})
    return pure


def check(path: Path, into: Path) -> Checked:
    """Read the whole archive into `into` and check it against its manifest
    and against this node's database vendor; BackupError says what is wrong."""
    try:
        archive = tarfile.open(path, mode="r:*")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(_("Not a readable back-up archive: %(error)s") % {"error": exc}) from None
    with archive:
        try:
            manifest = _read_manifest(archive)
            found: dict[str, str] = {}
            for member in archive:
                if member.name == MANIFEST:
                    continue
                if not member.isfile():
                    raise BackupError(_("The archive holds something other than files."))
                if member.name not in manifest["members"] or member.name in found:
                    raise BackupError(
                        _("The archive holds a file its manifest does not list: %(name)s")
                        % {"name": member.name}
                    )
                target = into / _member_path(member.name)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                source = archive.extractfile(member)
                if source is None:
                    raise BackupError(_("The archive holds something other than files."))
                digest = hashlib.sha256()
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                found[member.name] = digest.hexdigest()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise BackupError(_("The archive is damaged: %(error)s") % {"error": exc}) from None
    for name, expected in manifest["members"].items():
        if name not in found:
            raise BackupError(_("The archive lacks %(name)s.") % {"name": name})
        if found[name] != expected.get("sha256"):
            raise BackupError(
                _("%(name)s does not match its checksum: the archive is damaged.") % {"name": name}
            )
    _check_identity(manifest, into)
    return Checked(manifest, into)


def _read_manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = archive.getmember(MANIFEST)
        stream = archive.extractfile(member)
        manifest = json.loads(stream.read() if stream else b"")
    except (KeyError, ValueError, tarfile.TarError):
        raise BackupError(_("Not an Accord back-up: it has no readable manifest.")) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("Not an Accord back-up: it has no readable manifest."))
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(
            _("Back-up format version %(version)s is not one this release reads.")
            % {"version": manifest.get("version")}
        )
    database = manifest.get("database")
    members = manifest.get("members")
    if not isinstance(database, dict) or not isinstance(members, dict):
        raise BackupError(_("Not an Accord back-up: it has no readable manifest."))
    if database.get("vendor") != vendor():
        raise BackupError(
            _("The back-up holds a %(theirs)s database; this node is configured for %(ours)s.")
            % {"theirs": database.get("vendor"), "ours": vendor()}
        )
    if database.get("member") != DATABASE_MEMBER[vendor()] or database["member"] not in members:
        raise BackupError(_("Not an Accord back-up: it has no readable manifest."))
    return manifest


def _check_identity(manifest: dict[str, Any], folder: Path) -> None:
    """The keys in the archive are the node the manifest names."""
    data = folder / DATA_PREFIX.rstrip("/")
    try:
        node = identity.read_identity(data)
    except (identity.IdentityError, OSError, ValueError) as exc:
        raise BackupError(
            _("The archive holds no usable node identity: %(error)s") % {"error": exc}
        ) from None
    if node.node_id != manifest.get("node_id") or node.fingerprint != manifest.get("fingerprint"):
        raise BackupError(_("The archive's keys are not those of the node its manifest names."))


def refuse_unless_empty() -> None:
    """Restore writes onto a new node only: nothing existing is overwritten."""
    data_dir = Path(settings.DATA_DIR)
    present = identity.existing_node_files(data_dir)
    if present:
        raise BackupError(
            _("%(dir)s already holds a node (%(files)s); restore into an empty data directory.")
            % {"dir": data_dir, "files": ", ".join(present)}
        )
    if connection.introspection.table_names():
        raise BackupError(_("The database is not empty; restore into a new, empty database."))


def load(checked: Checked) -> None:
    """Write the checked archive: the database, then the data directory."""
    source = checked.folder / checked.manifest["database"]["member"]
    if vendor() == "sqlite":
        connection.close()
        target = _sqlite_path()
        for companion in _sqlite_companions(target):
            companion.unlink(missing_ok=True)  # the empty file the emptiness check opened
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        partial.rename(target)
    else:
        args, env = _pg_command("pg_restore")
        name = str(settings.DATABASES["default"]["NAME"])
        args += ["--exit-on-error", "--single-transaction", "--dbname", name, str(source)]
        done = subprocess.run(  # nosec B603
            args, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BackupError(f"pg_restore: {done.stderr.strip()}")
    data_dir = Path(settings.DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in sorted(checked.manifest["members"]):
        if not name.startswith(DATA_PREFIX):
            continue
        target = data_dir / _member_path(name[len(DATA_PREFIX) :])
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(checked.folder / _member_path(name), target)
        target.chmod(0o600)


def restore(path: Path, scratch: Path) -> dict[str, Any]:
    """Check the archive at `path` (unpacked under `scratch`) and write it onto
    this empty node; returns its manifest. On any refusal nothing is left
    behind, not even the empty SQLite file the emptiness check opened."""
    sqlite_absent = vendor() == "sqlite" and not _sqlite_path().exists()
    try:
        refuse_unless_empty()
        checked = check(path, scratch)
        load(checked)
    except BackupError:
        if sqlite_absent:
            connection.close()
            for companion in _sqlite_companions(_sqlite_path()):
                companion.unlink(missing_ok=True)
        raise
    return checked.manifest
