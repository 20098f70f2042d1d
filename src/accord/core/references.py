"""References like "XX.TEST-C-2026-0001", allocated without a race.

Two writers at once may both pick the next free number; the unique constraint
on `reference` decides, and the loser takes the one after. On PostgreSQL the
loser's insert waits for the winner's commit, and its retry (READ COMMITTED: a
new snapshot per statement) sees the winner's row. Bounded: each failure means
another writer took a number, so running out means something else is wrong.
(The same scheme as assistance's request references.)"""

from __future__ import annotations

from django.db import IntegrityError, models, transaction

ATTEMPTS = 20


def insert_with_reference(row: models.Model, prefix: str) -> None:
    """Insert `row` (its model has a unique `reference`) under the next free
    `prefix` + four-digit number. Call inside a transaction."""
    model = type(row)
    for _attempt in range(ATTEMPTS):
        row.reference = _next_reference(model, prefix)  # type: ignore[attr-defined]
        try:
            # A savepoint: a collision leaves the outer transaction usable.
            with transaction.atomic():
                row.save(force_insert=True)
            return
        except IntegrityError:
            taken = model._default_manager.filter(reference=row.reference)  # type: ignore[attr-defined]
            if not taken.exists():
                raise  # some other constraint: a bug to see, not a number to retry
    raise IntegrityError(f"no free reference under {prefix} after {ATTEMPTS} attempts")


def _next_reference(model: type[models.Model], prefix: str) -> str:
    rows = model._default_manager.filter(reference__startswith=prefix)
    taken = rows.count()
    for number in range(taken + 1, taken + 1000):
        reference = f"{prefix}{number:04d}"
        if not rows.filter(reference=reference).exists():
            return reference
    raise IntegrityError(f"no free reference under {prefix}")
