"""Bank accounts and identity documents, with their check digits verified by
python-stdnum where the scheme has them.

Decisions:
- IBAN: stdnum's compact form (upper case, no spaces) after its length, format
  and ISO 7064 mod 97 check.
- Other bank accounts: "CC:NUMBER" with the ISO 3166-1 alpha-2 country of the
  bank, the number upper-cased with spaces, hyphens, dots and slashes dropped.
  National schemes are too many to verify; a value that is a valid IBAN is
  refused here, so the same account is never recorded under two types.
- PRC resident identity number: the 18-character form, check character and
  birth date and region code verified (stdnum.cn.ric), "x" written "X". A
  15-digit first-generation number (all born in the 1900s, no check
  character) is converted to the 18-character form it was replaced by, so the
  old and new numbers of one person meet.
- Passports and other identity documents: "CCC:NUMBER" with the issuing
  country as ISO 3166-1 alpha-3, the code printed on the document and in its
  machine-readable zone (alpha-2 is accepted and converted; ICAO 9303's
  non-country issuers, such as UNO or XXA, are kept; Germany's "D" becomes
  DEU). The number is upper-cased without spaces, hyphens or the MRZ filler
  "<". Other identity documents of one country share a namespace: two
  documents of different kinds with the same number would meet, which step
  two (the formal request) resolves.
The country always comes from the value ("CHN:E12345678") or the `country`
context, which is the issuing country: a caller must not fill it with its own
node's country by default.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _
from stdnum import iban
from stdnum.cn import ric
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from accord.cases.observables.base import ObservableError, split_prefixed, stripped
from accord.cases.observables.countries import ALPHA3, ALPHA3_OF, ICAO_ALIASES, ICAO_ISSUERS

_SEPARATORS = re.compile(r"[\s\-./]")


def _stdnum_reason(error: ValidationError, value: str) -> ObservableError:
    if isinstance(error, InvalidChecksum):
        return ObservableError(
            _("The check digits of %(value)s do not match: a character is wrong."), value=value
        )
    if isinstance(error, InvalidLength):
        return ObservableError(_("%(value)s has the wrong length."), value=value)
    if isinstance(error, InvalidComponent):
        return ObservableError(
            _("%(value)s has a part that does not exist (country, region or date)."), value=value
        )
    if isinstance(error, InvalidFormat):
        return ObservableError(_("%(value)s holds characters that do not belong."), value=value)
    return ObservableError(_("%(value)s is not valid."), value=value)


def normalise_iban(raw: str, **context: str) -> str:
    value = stripped(raw)
    try:
        return iban.validate(value)
    except ValidationError as error:
        raise _stdnum_reason(error, value) from None


def display_iban(normal: str) -> str:
    return iban.format(normal)


def _country_alpha2(code: str) -> str:
    code = code.strip().upper()
    if code in ALPHA3_OF:
        return code
    for alpha2, alpha3 in ALPHA3_OF.items():
        if alpha3 == code:
            return alpha2
    raise ObservableError(_("%(code)s is not an ISO 3166-1 country code."), code=code)


def _country_alpha3(code: str) -> str:
    code = code.strip().upper()
    code = ICAO_ALIASES.get(code, code)
    if code in ALPHA3 or code in ICAO_ISSUERS:
        return code
    if code in ALPHA3_OF:
        return ALPHA3_OF[code]
    raise ObservableError(_("%(code)s is not a country code of a document issuer."), code=code)


def _number(value: str, limit: int) -> str:
    number = _SEPARATORS.sub("", value).upper().rstrip("<")
    if not number or not number.isascii() or not number.isalnum():
        raise ObservableError(
            _("A number holds only letters and digits; %(value)s does not."), value=value
        )
    if len(number) > limit:
        raise ObservableError(_("The number is longer than %(limit)s characters."), limit=limit)
    return number


def normalise_bank_account(raw: str, **context: str) -> str:
    country, number = split_prefixed(
        stripped(raw), context.get("country"), _("country"), _country_alpha2
    )
    normal = f"{country}:{_number(number, 34)}"
    if iban.is_valid(normal.partition(":")[2]):
        raise ObservableError(_("This account number is an IBAN: record it as an IBAN."))
    return normal


def normalise_cn_resident_id(raw: str, **context: str) -> str:
    value = stripped(raw)
    number = ric.compact(value)
    if len(number) == 15 and number.isdigit():
        # GB 11643-1989: six region digits, YYMMDD, three order digits. The
        # second generation (GB 11643-1999) inserts the century and appends
        # the check character.
        body = f"{number[:6]}19{number[6:]}"
        number = body + ric.calc_check_digit(body + "0")
    try:
        return ric.validate(number)
    except ValidationError as error:
        raise _stdnum_reason(error, value) from None


def normalise_passport(raw: str, **context: str) -> str:
    country, number = split_prefixed(
        stripped(raw), context.get("country"), _("issuing country"), _country_alpha3
    )
    return f"{country}:{_number(number, 20)}"


normalise_other_id_document = normalise_passport
