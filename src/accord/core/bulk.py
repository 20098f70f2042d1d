"""Writing many rows with one prepared statement run (`executemany`).

Django's bulk_create and bulk_update build one large statement (a CASE per row
and field for updates; UNNEST arrays on PostgreSQL, whose text escaping of long
JSON values is slow in psycopg). The federation channel writes a few rows per
message for hundreds of messages a second, so it uses these two instead. Only
model metadata (quoted names) goes into the SQL text; every value is a
parameter prepared by its field, exactly as the ORM would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models


def insert_many(objects: Sequence[models.Model]) -> None:
    """INSERT the objects (all of one model). An auto-incremented primary key is
    left to the database and not read back."""
    if not objects:
        return
    meta = objects[0]._meta
    fields = [
        field
        for field in meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField))
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(field)) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    # Names come from the model's meta, quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608  # nosec B608
    rows = [
        [field.get_db_prep_save(field.pre_save(obj, add=True), connection) for field in fields]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def update_many(objects: Sequence[models.Model], field_names: Sequence[str]) -> None:
    """UPDATE the named fields of each object, matched by primary key."""
    if not objects:
        return
    meta = objects[0]._meta
    fields = [_stored(meta.get_field(name)) for name in field_names]
    key = meta.pk
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(_column(field))} = %s" for field in fields)
    # Names come from the model's meta, quoted; every value is a parameter.
    table, where = quote(meta.db_table), quote(_column(key))
    sql = f"UPDATE {table} SET {assignments} WHERE {where} = %s"  # noqa: S608  # nosec B608
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
        + [key.get_db_prep_value(obj.pk, connection)]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _stored(field: models.Field[Any, Any] | models.ForeignObjectRel) -> models.Field[Any, Any]:
    """Only a field stored in this model's table can be written here; the
    reverse side of a relation is not."""
    if not isinstance(field, models.Field):
        raise TypeError(f"{field.name} is the reverse side of a relation, not a column")
    return field


def _column(field: models.Field[Any, Any]) -> str:
    if field.column is None:  # a field without a column of its own
        raise TypeError(f"{field.name} has no column")
    return field.column
