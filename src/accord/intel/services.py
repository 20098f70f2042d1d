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
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accord.core import audit
from accord.core.audit import Actor, AuditAction
from accord.core.bulk import insert_many
from accord.core.identity import this_node
from accord.core.models import AuditEvent
from accord.intel import stix, validation
from accord.intel.models import (
    Account,
    Collection,
    Grant,
    HandlingCode,
    Status,
    StixObject,
    Tlp,
    Token,
)

MAX_PAGE = 1000
DEFAULT_PAGE = 100
# Objects never released to a partner, whatever its grant.
UNRELEASABLE = (Tlp.RED,)


class Audience(StrEnum):
    """Who an object would go to. LOCAL: this node's own users, in its pages.
    PARTNER: a TAXII account (a partner tool of this country). PEER: a
    foreign node, through the federation channel. EXPORT: a bundle file."""

    LOCAL = "local"
    PARTNER = "partner"
    PEER = "peer"
    EXPORT = "export"


# Handling codes that keep an object from each way out, on every node the
# conditions bind (docs/intel.md, "Handling conditions"). Foreign peers get
# nothing that came with conditions from elsewhere.
WITHHELD_FROM = {
    Audience.PARTNER: [HandlingCode.PERMISSION, HandlingCode.AGENCY, HandlingCode.NONE],
    Audience.EXPORT: [HandlingCode.NONE],
    Audience.PEER: list(HandlingCode.values),
}


# ---------------------------------------------------------------- accounts


# Argon2 costs ~0.6 s and 100 MiB per check, far too much for every TAXII
# request of a paging client: a verified (name, password) pair is remembered
# in this process for a few minutes, keyed by a keyed hash, never in clear.
_VERIFIED: dict[str, tuple[int, float]] = {}
VERIFIED_SECONDS = 300


def _verified_key(name: str, password: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{name}\x00{password}".encode(), hashlib.sha256
    ).hexdigest()


def authenticate_basic(name: str, password: str, ip: str = "") -> Account | None:
    """The active account with this name and password. Failures are audited;
    after too many for one name within the sign-in window (the web sign-in's
    limits) the name is refused without checking the password."""
    key = _verified_key(name, password)
    remembered = _VERIFIED.get(key)
    if remembered and remembered[1] > time.monotonic():
        account = Account.objects.filter(pk=remembered[0], active=True).first()
        if account is not None and account.name == name:
            return account
    if _signin_locked(name):
        _signin_failed(name, "locked: too many failed sign-ins", ip)
        return None
    account = Account.objects.filter(name=name, active=True).first()
    if account is None or not account.password or not check_password(password, account.password):
        _signin_failed(name, "wrong name or password", ip)
        return None
    if len(_VERIFIED) > 1000:
        _VERIFIED.clear()
    _VERIFIED[key] = (account.pk, time.monotonic() + VERIFIED_SECONDS)
    return account


def authenticate_token(token: str, ip: str = "") -> Account | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    found = Token.objects.select_related("account").filter(digest=digest).first()
    if found is None or not found.account.active:
        # Only a prefix is recorded: a mistyped token is nearly the real one.
        _signin_failed("token:" + token[:6], "unknown or revoked token", ip)
        return None
    return found.account


def _signin_locked(name: str) -> bool:
    since = timezone.now() - timedelta(minutes=settings.LOGIN_LOCK_MINUTES)
    failures = AuditEvent.objects.filter(
        action=AuditAction.INTEL_SIGNIN_FAILED, target_id=name[:150], at__gte=since
    ).count()
    return failures >= settings.LOGIN_MAX_FAILURES


def _signin_failed(name: str, reason: str, ip: str) -> None:
    audit.record(
        Actor(label="taxii"),
        AuditAction.INTEL_SIGNIN_FAILED,
        target_type="intel.account",
        target_id=name[:150],
        ip=ip,
        data={"reason": reason},
    )


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
            account = Account.objects.create(
                name=name, password=make_password(password) if password else ""
            )
        except IntegrityError:
            raise ValidationError(_("An account %(name)s exists.") % {"name": name}) from None
        for key in {*read, *write}:
            Grant.objects.update_or_create(
                account=account,
                collection=collections[key],
                defaults={"can_read": key in read, "can_write": key in write},
            )
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=name,
            data={"read": read, "write": write},
        )
    return account


def issue_token(actor: Actor, account: Account) -> str:
    """A new API token; only its SHA-256 is stored, so it is shown once."""
    token = "acc_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        Token.objects.create(
            account=account, digest=hashlib.sha256(token.encode()).hexdigest(), prefix=token[:10]
        )
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=account.name,
            data={"token": token[:10] + "…"},
        )
    return token


def set_active(actor: Actor, account: Account, active: bool) -> None:
    """Disable (or enable again) an account: a disabled one is refused at once,
    with its password and every token."""
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).update(active=active)
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=account.name,
            data={"active": active},
        )


def revoke_token(actor: Actor, account: Account, prefix: str) -> int:
    """Revoke the one token of the account that starts with `prefix` (as
    `account list` shows it); a prefix that fits several revokes nothing."""
    if len(prefix) < 6:
        raise ValidationError(_("Give at least the first 6 characters of the token."))
    with transaction.atomic():
        doomed = [t for t in account.tokens.all() if t.prefix.startswith(prefix[:10])]
        if not doomed:
            raise ValidationError(_("No token %(prefix)s for this account.") % {"prefix": prefix})
        if len(doomed) > 1:
            raise ValidationError(
                _("%(prefix)s fits %(count)s tokens of this account: give more characters.")
                % {"prefix": prefix, "count": len(doomed)}
            )
        Token.objects.filter(pk__in=[t.pk for t in doomed]).delete()
        audit.record(
            actor,
            AuditAction.INTEL_ACCOUNT,
            target_type="intel.account",
            target_id=account.name,
            data={"revoked": [t.prefix + "…" for t in doomed]},
        )
    return len(doomed)


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


def ingest(
    collection: Collection, objects: list[Any], account: Account | None, actor: Actor
) -> Status:
    """Store an envelope's objects; each is accepted or refused on its own."""
    now = timezone.now()
    node_id = this_node().node_id
    result = Ingested()
    rows: list[StixObject] = []
    undated: list[bool] = []  # per row: no created/modified (most observables)
    seen: set[tuple[str, str]] = set()
    verdicts = validation.problems_of_many(objects)
    custom = _custom_markings(objects, verdicts)
    for index, (obj, problems) in enumerate(zip(objects, verdicts, strict=True)):
        ident = obj.get("id", f"#{index}") if isinstance(obj, dict) else f"#{index}"
        handling = None
        if not problems:
            try:
                handling = stix.handling_of(obj)
            except ValueError as exc:
                problems = [str(exc)]
        if problems:
            # TAXII 2.1 §4.3.1: status details carry a version, refused objects too.
            version = stix.version_of(obj, now) if isinstance(obj, dict) else stix.timestamp(now)
            result.failures.append(
                {
                    "id": _storable(str(ident))[:300],
                    "version": version,
                    "message": _storable("; ".join(problems))[:1000],
                }
            )
            continue
        # Every object gets its own date_added: the keyset order stays total.
        added = now + timedelta(microseconds=index)
        version = stix.version_of(obj, added)
        if (obj["id"], version) in seen:
            result.successes.append(
                {"id": obj["id"], "version": version, "message": "duplicate in the envelope"}
            )
            continue
        seen.add((obj["id"], version))
        undated.append(not (obj.get("modified") or obj.get("created")))
        rows.append(
            StixObject(
                collection=collection,
                stix_id=obj["id"],
                stix_type=obj["type"],
                spec_version=str(obj.get("spec_version", "2.1")),
                version=version,
                date_added=added,
                tlp=stix.tlp_of(obj, custom),
                revoked=bool(obj.get("revoked")),
                body=json.dumps(obj, ensure_ascii=False, separators=(",", ":")),
                search_text=stix.search_text_of(obj),
                handling=handling.code if handling else "",
                handling_bound=bool(handling and handling.binds(node_id)),
                expires=handling.expires if handling else None,
            )
        )
    audience = Audience.PARTNER if account is not None else Audience.LOCAL
    with transaction.atomic():
        # Stamp date_added under a per-collection lock, after validation: the
        # objects become visible in the order of their dates, so a reader's
        # added_after cursor never skips an envelope that committed late.
        Collection.objects.select_for_update().filter(pk=collection.pk).first()
        stamp = timezone.now()
        for offset, (row, no_dates) in enumerate(zip(rows, undated, strict=True)):
            row.date_added = stamp + timedelta(microseconds=offset)
            if no_dates:  # the version is the date added (TAXII 2.1 §3.4.2)
                row.version = stix.timestamp(row.date_added)
        existing = _existing_versions(collection, rows)
        # An object without dates that comes again unchanged is the same object,
        # not a new version (a partner re-sending its observables).
        same = _same_bodies(
            collection, {r.stix_id for r, u in zip(rows, undated, strict=True) if u}
        )
        known = {stix_id for stix_id, _version in existing} | {i for i, _body in same}
        fresh = []
        for row, no_dates in zip(rows, undated, strict=True):
            if (row.stix_id, row.version) in existing or (row.stix_id, row.body) in same:
                continue
            fresh.append(row)
            if no_dates:
                same.add((row.stix_id, row.body))
        insert_many(fresh)
        _raise_marked_by(objects, custom)
        batch_count: dict[str, int] = {}
        for row in fresh:
            batch_count[row.stix_id] = batch_count.get(row.stix_id, 0) + 1
        # Only objects with several versions need their first/last flags redone.
        refresh_flags(
            collection,
            {r.stix_id for r in fresh if r.stix_id in known or batch_count[r.stix_id] > 1},
        )
        visible = _visible(collection, known, audience)
        fresh_keys = {(r.stix_id, r.version) for r in fresh}
        for row in rows:
            stored = (row.stix_id, row.version) in fresh_keys
            # A version the account may not see is never called "already stored".
            note = "already stored" if not stored and row.stix_id in visible else "stored"
            result.successes.append({"id": row.stix_id, "version": row.version, "message": note})
        status = Status.objects.create(
            id=uuid.uuid4(),
            collection=collection,
            account=account,
            request_timestamp=now,
            status="complete",
            total_count=len(objects),
            success_count=len(result.successes),
            failure_count=len(result.failures),
            successes=result.successes,
            failures=result.failures,
        )
        audit.record(
            actor,
            AuditAction.INTEL_INGEST,
            collection,
            data={"status": str(status.pk), "stored": len(fresh), "refused": len(result.failures)},
        )
    if fresh:
        _keep_statistics_fresh()
    return status


def _keep_statistics_fresh() -> None:
    """On PostgreSQL, re-analyse the object table once a tenth of it (and at
    least a thousand rows) changed since the last analysis. Autovacuum would,
    but up to a minute later: until then the planner, believing the table
    small, sorts every row of a collection for a first page (measured: 50 to
    80 ms at 100,000 objects, against 0.1 ms with fresh statistics)."""
    if connection.vendor != "postgresql":
        return
    table = StixObject._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables WHERE relname = %s",
            [table],
        )
        found = cursor.fetchone()
        if found and found[0] > max(1000, found[1] // 10):
            cursor.execute(f'ANALYZE "{table}"')


def _custom_markings(objects: list[Any], verdicts: list[list[str]]) -> dict[str, Tlp]:
    """TLP levels stated by marking definitions other than the standard ones,
    from this envelope and from the store, for the refs the envelope uses."""
    found: dict[str, Tlp] = {}
    refs: set[str] = set()
    for obj, problems in zip(objects, verdicts, strict=True):
        if problems or not isinstance(obj, dict):
            continue
        level = stix.custom_tlp(obj)
        if level is not None:
            found[obj["id"]] = level
        refs.update(ref for ref in stix.marking_refs(obj) if ref not in stix.TLP_MARKINGS)
    wanted = sorted(refs - set(found))
    for start in range(0, len(wanted), 500):
        stored = StixObject.objects.filter(
            stix_type="marking-definition", stix_id__in=wanted[start : start + 500]
        )
        for stix_id, body in stored.values_list("stix_id", "body"):
            level = stix.custom_tlp(json.loads(body))
            if level is not None and stix.STRICTNESS.index(level) > stix.STRICTNESS.index(
                found.get(stix_id, Tlp.NONE)
            ):
                found[stix_id] = level
    return found


def _raise_marked_by(objects: list[Any], custom: dict[str, Tlp]) -> None:
    """A TLP marking definition that arrives after the objects it marks still
    counts: those objects, anywhere in the store, take its level if stricter."""
    new = {
        o["id"]
        for o in objects
        if isinstance(o, dict) and o.get("id") in custom and o.get("type") == "marking-definition"
    }
    for marking in sorted(new):
        for row in StixObject.objects.filter(body__contains=f'"{marking}"').exclude(
            stix_type="marking-definition"
        ):
            level = stix.tlp_of(json.loads(row.body), custom)
            if stix.STRICTNESS.index(level) > stix.STRICTNESS.index(row.tlp):
                StixObject.objects.filter(pk=row.pk).update(tlp=level)


def _same_bodies(collection: Collection, stix_ids: set[str]) -> set[tuple[str, str]]:
    return _pairs(collection, stix_ids, "body")


def _pairs(collection: Collection, stix_ids: set[str], column: str) -> set[tuple[str, str]]:
    """(stix_id, column) of every stored version of these objects, in chunks
    that stay under every database's limit on query parameters."""
    ids = sorted(stix_ids)
    found: set[tuple[str, str]] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = StixObject.objects.filter(collection=collection, stix_id__in=chunk)
        found.update(rows.values_list("stix_id", column))
    return found


def _visible(collection: Collection, stored: set[str], audience: Audience) -> set[str]:
    """Which of the objects already stored the audience may see."""
    ids = sorted(stored)
    if audience == Audience.LOCAL:
        return set(ids)
    seen: set[str] = set()
    for start in range(0, len(ids), 500):
        stored = StixObject.objects.filter(
            collection=collection, stix_id__in=ids[start : start + 500]
        )
        seen.update(released(stored, audience).values_list("stix_id", flat=True))
    return seen


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
    return _pairs(collection, {r.stix_id for r in rows}, "version")


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


def released(rows: QuerySet, audience: Audience) -> QuerySet:
    """What may go to `audience`: never TLP:RED, nothing past its expiry, and
    nothing the originator's handling code keeps from it."""
    if audience == Audience.LOCAL:
        return rows
    rows = rows.exclude(tlp__in=UNRELEASABLE).exclude(expires__lte=timezone.now())
    return rows.exclude(handling_bound=True, handling__in=WITHHELD_FROM[audience])


def filtered(
    collection: Collection,
    params: dict[str, list[str]],
    *,
    audience: Audience,
    object_id: str | None = None,
) -> QuerySet:
    """TAXII 2.1 §3.6 filters: added_after, match[id|type|version|spec_version]."""
    rows = released(StixObject.objects.filter(collection=collection), audience)
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
                raise BadFilter(
                    f"match[version] {text!r} is not first, last, all or a timestamp"
                ) from None
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


def delete_object(
    collection: Collection,
    object_id: str,
    params: dict[str, list[str]],
    actor: Actor,
    audience: Audience = Audience.LOCAL,
) -> int:
    """Delete versions of an object; a partner deletes only what it may see (so
    it cannot learn that a TLP:RED object exists). Peers that were sent the
    object are told to delete it too, and nobody else hears of it."""
    rows = filtered(
        collection,
        {**params, "match[version]": params.get("match[version]") or ["all"]},
        audience=audience,
        object_id=object_id,
    )
    with transaction.atomic():
        doomed = StixObject.objects.filter(pk__in=list(rows.values_list("pk", flat=True)))
        went_to_peers = released(doomed, Audience.PEER).exists() or _was_sent(doomed)
        count, _ = doomed.delete()
        # The versions left behind need their newest/oldest flags redone, or
        # deleting the newest version would hide the object from match[version]=last.
        refresh_flags(collection, {object_id})
        if (
            count
            and went_to_peers
            and not StixObject.objects.filter(collection=collection, stix_id=object_id).exists()
        ):
            from accord.intel.sync import retract

            retract(collection, object_id)  # partners delete it too, and confirm
        audit.record(
            actor,
            AuditAction.INTEL_DELETE,
            collection,
            data={"object": object_id, "versions": count},
        )
    return count


@dataclass(frozen=True)
class Export:
    bundle: str
    count: int
    withheld: int


def export_bundle(collection: Collection, actor: Actor, ip: str = "") -> Export:
    """The collection as a STIX bundle file: never TLP:RED, nothing expired,
    nothing its originator marked for no further sharing. Objects that carry
    handling conditions keep them, and the bundle defines the extension."""
    everything = StixObject.objects.filter(collection=collection)
    rows = released(everything, Audience.EXPORT).order_by("date_added", "pk")
    bodies = list(rows.values_list("body", flat=True))
    count, withheld = len(bodies), everything.count() - len(bodies)
    if rows.exclude(handling="").exists():
        bodies = [
            json.dumps(o, separators=(",", ":")) for o in stix.handling_definitions()
        ] + bodies
    bundle = (
        '{"type":"bundle","id":"bundle--'
        + str(uuid.uuid4())
        + '","objects":['
        + ",".join(bodies)
        + "]}"
    )
    audit.record(
        actor,
        AuditAction.INTEL_EXPORT,
        collection,
        ip=ip,
        data={"objects": count, "withheld": withheld},
    )
    return Export(bundle, count, withheld)


def handling_from(
    code: str, reliability: str = "", accuracy: str = "", purpose: str = "", expires: str = ""
) -> stix.Handling | None:
    """Conditions an analyst of this node sets on import (form or CLI); None
    when no handling code is given. ValidationError says what is wrong."""
    code, reliability, purpose = code.strip(), reliability.strip().upper(), purpose.strip()
    if not code:
        if reliability or accuracy.strip() or purpose or expires.strip():
            raise ValidationError(_("Choose a handling code to go with the other conditions."))
        return None
    if code not in HandlingCode.values:
        raise ValidationError(_("Unknown handling code %(code)s.") % {"code": code})
    if reliability and reliability not in stix.RELIABILITY:
        raise ValidationError(_("Source reliability is a letter from A to F."))
    level = None
    if accuracy.strip():
        if accuracy.strip() not in ("1", "2", "3", "4", "5", "6"):
            raise ValidationError(_("Information accuracy is a number from 1 to 6."))
        level = int(accuracy)
    if len(purpose) > 1000:
        raise ValidationError(_("Say the purpose in at most 1,000 characters."))
    until = None
    if expires.strip():
        try:
            text = expires.strip()
            until = stix.parse_timestamp(text + ("T23:59:59Z" if len(text) == 10 else ""))
        except ValueError:
            raise ValidationError(_("Give the expiry as a date (YYYY-MM-DD).")) from None
        if until <= timezone.now():
            raise ValidationError(_("The expiry must be in the future."))
    return stix.Handling(
        code=code,
        originator=this_node().node_id,
        reliability=reliability,
        accuracy=level,
        purpose=purpose,
        expires=until,
    )


def with_conditions(objects: list[Any], handling: stix.Handling | None) -> list[Any]:
    """Objects being imported on this node, given its analyst's conditions
    (objects that carry conditions of their own keep them)."""
    if handling is None:
        return objects
    return [stix.with_handling(o, handling) if isinstance(o, dict) else o for o in objects]


def _was_sent(rows: QuerySet) -> bool:
    """Whether a peer may hold one of these rows: a version that has expired
    since may have gone out before (a TLP:RED one never did)."""
    return (
        rows.exclude(tlp__in=UNRELEASABLE)
        .filter(handling_bound=False, expires__isnull=False)
        .exists()
    )


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
        defaults={
            "id": uuid.uuid4(),
            "title": "Shared indicators",
            "description": "Indicators shared with partner agencies.",
        },
    )
    return collection


def now_utc() -> datetime:
    return datetime.now(UTC)
