"""The rules of the STIX store and its TAXII 2.1 face.

Reads page by keyset on (date_added, id), so the first page costs the same
whatever the store holds. Ingest validates every object with the OASIS
validator; a bad object is reported in the status resource by id and reason
while the good ones in the same envelope are kept (TAXII 2.1 §5.4). TLP:RED
never leaves the node: partner reads, exports and federation skip it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.bulk import insert_many
from accord.intel import stix
from accord.intel.models import Account, Collection, Grant, Status, StixObject, Tlp, Token

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Objects never released to a partner, whatever its grant.
UNRELEASABLE = (Tlp.RED,)


# ---------------------------------------------------------------- accounts


# Argon2 costs ~0.6 s and 100 MiB per check, far too much for every TAXII
# request of a paging client: a verified (name, password) pair is remembered
# in this process for a few minutes, keyed by a keyed hash, never in clear.
_VERIFIED: dict[str, tuple[int, float]] = {}
VERIFIED_SECONDS = 300


def _verified_key(name: str, password: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{name}\x00{password}".encode(),
                    hashlib.sha256).hexdigest()  # fmt: skip


def authenticate_basic(name: str, password: str) -> Account | None:
    key = _verified_key(name, password)
    remembered = _VERIFIED.get(key)
    if remembered and remembered[1] > time.monotonic():
        account = Account.objects.filter(pk=remembered[0], active=True).first()
        if account is not None and account.name == name:
            return account
    account = Account.objects.filter(name=name, active=True).first()
    if account is None or not account.password or not check_password(password, account.password):
        return None
    if len(_VERIFIED) > 1000:
        _VERIFIED.clear()
    _VERIFIED[key] = (account.pk, time.monotonic() + VERIFIED_SECONDS)
    return account


def authenticate_token(token: str) -> Account | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    found = Token.objects.select_related("account").filter(digest=digest).first()
    return found.account if found and found.account.active else None


def add_account(
    actor: Actor, name: str, password: str, read: list[str], write: list[str]
) -> Account:
    """A partner tool's account with read and write rights per collection
    (`accord intel account add`)."""
    name = name.strip()
    if not name or len(name) > 150:
        raise ValidationError(_("An account needs a name of 1 to 150 characters."))
    if password and len(password) < 12:
        raise ValidationError(_("Use a password of at least 12 characters."))
    collections = {c.alias: c for c in Collection.objects.all()}
    collections.update({str(c.pk): c for c in collections.values()})
    unknown = sorted({*read, *write} - set(collections))
    if unknown:
        raise ValidationError(_("No collection %(names)s.") % {"names": ", ".join(unknown)})
    with transaction.atomic():
        try:
            account = Account.objects.create(name=name, password=make_password(password)
                                             if password else "")  # fmt: skip
        except IntegrityError:
            raise ValidationError(_("An account %(name)s exists.") % {"name": name}) from None
        for key in {*read, *write}:
            Grant.objects.update_or_create(
                account=account, collection=collections[key],
                defaults={"can_read": key in read, "can_write": key in write},
            )  # fmt: skip
        audit.record(actor, AuditAction.INTEL_ACCOUNT, target_type="intel.account",
                     target_id=name, data={"read": read, "write": write})  # fmt: skip
    return account


def issue_token(actor: Actor, account: Account) -> str:
    """A new API token; only its SHA-256 is stored, so it is shown once."""
    token = "acc_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        Token.objects.create(account=account, digest=hashlib.sha256(token.encode()).hexdigest(),
                             prefix=token[:10])  # fmt: skip
        audit.record(actor, AuditAction.INTEL_ACCOUNT, target_type="intel.account",
                     target_id=account.name, data={"token": token[:10] + "…"})  # fmt: skip
    return token


def may(account: Account, collection: Collection, write: bool = False) -> bool:
    grant = Grant.objects.filter(account=account, collection=collection).first()
    return bool(grant and (grant.can_write if write else grant.can_read))


def collections_for(account: Account) -> list[tuple[Collection, bool, bool]]:
    grants = Grant.objects.filter(account=account).select_related("collection")
    return [(g.collection, g.can_read, g.can_write) for g in grants if g.can_read or g.can_write]


# ---------------------------------------------------------------- ingest


@dataclass
class Ingested:
    successes: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


def ingest(collection: Collection, objects: list[Any], account: Account | None,
           actor: Actor) -> Status:  # fmt: skip
    """Store an envelope's objects; each is accepted or refused on its own."""
    now = timezone.now()
    result = Ingested()
    rows: list[StixObject] = []
    seen: set[tuple[str, str]] = set()
    for index, obj in enumerate(objects):
        problems = stix.problems_of(obj)
        ident = obj.get("id", f"#{index}") if isinstance(obj, dict) else f"#{index}"
        if problems:
            # TAXII 2.1 §4.3.1: status details carry a version, refused objects too.
            version = stix.version_of(obj, now) if isinstance(obj, dict) else stix.timestamp(now)
            result.failures.append({"id": _storable(str(ident))[:300], "version": version,
                                    "message": _storable("; ".join(problems))[:1000]})  # fmt: skip
            continue
        # Every object gets its own date_added: the keyset order stays total.
        added = now + timedelta(microseconds=index)
        version = stix.version_of(obj, added)
        if (obj["id"], version) in seen:
            result.successes.append({"id": obj["id"], "version": version,
                                     "message": "duplicate in the envelope"})  # fmt: skip
            continue
        seen.add((obj["id"], version))
        rows.append(StixObject(
            collection=collection, stix_id=obj["id"], stix_type=obj["type"],
            spec_version=str(obj.get("spec_version", "2.1")), version=version, date_added=added,
            tlp=stix.tlp_of(obj), revoked=bool(obj.get("revoked")),
            body=json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
            search_text=stix.search_text_of(obj),
        ))  # fmt: skip
    with transaction.atomic():
        # Stamp date_added under a per-collection lock, after validation: the
        # objects become visible in the order of their dates, so a reader's
        # added_after cursor never skips an envelope that committed late.
        Collection.objects.select_for_update().filter(pk=collection.pk).first()
        stamp = timezone.now()
        for offset, row in enumerate(rows):
            derived = row.version == stix.timestamp(row.date_added)
            row.date_added = stamp + timedelta(microseconds=offset)
            if derived:  # no created/modified: the version is the date added
                row.version = stix.timestamp(row.date_added)
        existing = _existing_versions(collection, rows)
        fresh = [r for r in rows if (r.stix_id, r.version) not in existing]
        insert_many(fresh)
        known = {stix_id for stix_id, _version in existing}
        batch_count: dict[str, int] = {}
        for row in fresh:
            batch_count[row.stix_id] = batch_count.get(row.stix_id, 0) + 1
        # Only objects with several versions need their first/last flags redone.
        refresh_flags(
            collection,
            {r.stix_id for r in fresh if r.stix_id in known or batch_count[r.stix_id] > 1},
        )
        for row in rows:
            note = "stored" if (row.stix_id, row.version) not in existing else "already stored"
            result.successes.append({"id": row.stix_id, "version": row.version, "message": note})
        status = Status.objects.create(
            id=uuid.uuid4(), collection=collection, account=account, request_timestamp=now,
            status="complete", total_count=len(objects), success_count=len(result.successes),
            failure_count=len(result.failures), successes=result.successes,
            failures=result.failures,
        )  # fmt: skip
        audit.record(actor, AuditAction.INTEL_INGEST, collection,
                     data={"status": str(status.pk), "stored": len(fresh),
                           "refused": len(result.failures)})  # fmt: skip
    return status


def _storable(text: str) -> str:
    """A refused object's id or message as every database stores it in JSON:
    no NUL, no lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def refresh_flags(collection: Collection, stix_ids: set[str]) -> None:
    """Mark each object's newest and oldest version (match[version] last/first)."""
    ids = sorted(stix_ids)
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        rows = StixObject.objects.filter(collection=collection, stix_id__in=chunk)
        bounds = list(rows.values("stix_id").annotate(high=Max("version"), low=Min("version")))
        if not bounds:
            continue
        rows.update(latest=False, earliest=False)
        newest = Q(pk__in=[])
        oldest = Q(pk__in=[])
        for b in bounds:
            newest |= Q(stix_id=b["stix_id"], version=b["high"])
            oldest |= Q(stix_id=b["stix_id"], version=b["low"])
        rows.filter(newest).update(latest=True)
        rows.filter(oldest).update(earliest=True)


def _existing_versions(collection: Collection, rows: list[StixObject]) -> set[tuple[str, str]]:
    ids = list({r.stix_id for r in rows})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = StixObject.objects.filter(collection=collection, stix_id__in=chunk)
        found.update(rows.values_list("stix_id", "version"))
    return found


# ---------------------------------------------------------------- reading


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class Page:
    rows: list[StixObject]
    more: bool
    next: str | None

    @property
    def first_added(self) -> datetime | None:
        return self.rows[0].date_added if self.rows else None

    @property
    def last_added(self) -> datetime | None:
        return self.rows[-1].date_added if self.rows else None


def released(rows: QuerySet, partner: bool) -> QuerySet:
    return rows.exclude(tlp__in=UNRELEASABLE) if partner else rows


def filtered(collection: Collection, params: dict[str, list[str]], *, partner: bool,
             object_id: str | None = None) -> QuerySet:  # fmt: skip
    """TAXII 2.1 §3.6 filters: added_after, match[id|type|version|spec_version]."""
    rows = released(StixObject.objects.filter(collection=collection), partner)
    if object_id is not None:
        rows = rows.filter(stix_id=object_id)
    if params.get("added_after"):
        try:
            rows = rows.filter(date_added__gt=stix.parse_timestamp(params["added_after"][0]))
        except ValueError:
            raise BadFilter("added_after is not a timestamp") from None
    ids = _split(params.get("match[id]"))
    if ids:
        rows = rows.filter(stix_id__in=ids)
    types = _split(params.get("match[type]"))
    if types:
        rows = rows.filter(stix_type__in=types)
    specs = _split(params.get("match[spec_version]"))
    if specs:
        rows = rows.filter(spec_version__in=specs)
    return _versions(rows, _split(params.get("match[version]")) or ["last"])


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _versions(rows: QuerySet, wanted: list[str]) -> QuerySet:
    if "all" in wanted:
        return rows
    condition = Q(pk__in=[])
    if "last" in wanted:
        condition |= Q(latest=True)
    if "first" in wanted:
        condition |= Q(earliest=True)
    exact = []
    for text in wanted:
        if text not in ("first", "last"):
            try:
                exact.append(stix.timestamp(stix.parse_timestamp(text)))
            except ValueError:
                raise BadFilter(f"match[version] {text!r} is not first, last, all "
                                "or a timestamp") from None  # fmt: skip
    if exact:
        condition |= Q(version__in=exact)
    return rows.filter(condition)


def page(rows: QuerySet, limit: str | None, cursor: str | None) -> Page:
    size = _limit(limit)
    if cursor:
        added, pk = _decode_cursor(cursor)
        # The redundant lower bound lets the (date_added, id) index start at the
        # cursor instead of filtering every earlier row (measured: 300 ms → 3 ms
        # per page at 900k rows).
        rows = rows.filter(date_added__gte=added).filter(
            Q(date_added__gt=added) | Q(date_added=added, pk__gt=pk)
        )
    found = list(rows.order_by("date_added", "pk")[: size + 1])
    more = len(found) > size
    found = found[:size]
    token = _encode_cursor(found[-1]) if more and found else None
    return Page(found, more, token)


def _limit(text: str | None) -> int:
    if text in (None, ""):
        return DEFAULT_PAGE
    try:
        value = int(text)
    except ValueError:
        raise BadFilter("limit must be a positive integer") from None
    if value < 1:
        raise BadFilter("limit must be a positive integer")
    return min(value, MAX_PAGE)


def _encode_cursor(row: StixObject) -> str:
    raw = f"{stix.timestamp(row.date_added)}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        added, pk = raw.split("|")
        return stix.parse_timestamp(added), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise BadFilter("next is not a token this server gave") from None


def delete_object(collection: Collection, object_id: str, params: dict[str, list[str]],
                  actor: Actor) -> int:  # fmt: skip
    rows = filtered(collection, {**params, "match[version]": params.get("match[version]") or
                                 ["all"]}, partner=False, object_id=object_id)  # fmt: skip
    with transaction.atomic():
        count, _ = StixObject.objects.filter(
            pk__in=list(rows.values_list("pk", flat=True))
        ).delete()
        # The versions left behind need their newest/oldest flags redone, or
        # deleting the newest version would hide the object from match[version]=last.
        refresh_flags(collection, {object_id})
        if (
            count
            and not StixObject.objects.filter(collection=collection, stix_id=object_id).exists()
        ):
            from accord.intel.sync import retract

            retract(collection, object_id)  # partners delete it too, and confirm
        audit.record(actor, AuditAction.INTEL_DELETE, collection,
                     data={"object": object_id, "versions": count})  # fmt: skip
    return count


def create_collection(actor: Actor, alias: str, title: str, description: str = "") -> Collection:
    if Collection.objects.filter(alias=alias).exists():
        raise ValidationError(_("A collection %(alias)s exists.") % {"alias": alias})
    with transaction.atomic():
        collection = Collection.objects.create(
            id=uuid.uuid4(), alias=alias, title=title, description=description
        )
        audit.record(actor, AuditAction.INTEL_SHARE, collection, data={"created": alias})
    return collection


def ensure_default_collection() -> Collection:
    collection, _created = Collection.objects.get_or_create(
        alias="shared",
        defaults={"id": uuid.uuid4(), "title": "Shared indicators",
                  "description": "Indicators shared with partner agencies."},
    )  # fmt: skip
    return collection


def now_utc() -> datetime:
    return datetime.now(UTC)
