"""People: a name key that is the same in every script the name is written in,
combined with the date of birth (DOMAIN.md, "Observables").

The key is the family name then the given name, each folded to lower-case
ASCII letters with everything else dropped (spaces, middle dots · ・ ‧ •,
hyphens, apostrophes, full stops):
- Chinese characters become pinyin without tones (pypinyin), one character at
  a time, so a name is never read as a word it happens to spell. A family name
  first takes its reading as a surname from the table below (曾 is Zeng, not
  Ceng; 单 is Shan). ü is written "yu", as on PRC passports since 2012 (吕 →
  lyu); a Latin-script "Lü" folds to "lu" and does not meet it.
- Traditional characters: pypinyin's dictionary holds them with the same
  readings as their simplified forms (郭聲琨 and 郭声琨 give one key), and no
  converter is installed (OpenCC is not). Where a traditional character is
  also a simplified character of its own with another reading (乾 is qian, the
  traditional 干 "dry" is gan), the key follows the character as written — a
  known limit, tested.
- Polyphonic characters in a given name take pypinyin's most common reading;
  a Latin-script spelling of a rarer reading does not meet (a known limit).
- Latin script: compatibility decomposition (NFKD), combining marks dropped,
  case folded (ß → ss), and the letters NFKD leaves whole spelt out (ø → o,
  æ → ae, ł → l).
- Letters of other scripts are kept case-folded: they meet the same name in
  the same script only.

A person is matched on name key plus date of birth: a name alone is not a
matchable observable (too many people share one), so the person type refuses
a value without a date. Its normal form is "guoshengkun|1954-10-01"."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from datetime import date
from functools import cache

from django.utils.translation import gettext_lazy as _

from accord.cases.observables.base import ObservableError, stripped

# Surnames whose reading differs from the character's most common one, in
# simplified and traditional forms. Only unambiguous ones: 乐 is both Yue and
# Le as a surname, so it keeps pypinyin's reading.
SURNAME_READINGS = {
    "万俟": "moqi", "萬俟": "moqi", "尉迟": "yuchi", "尉遲": "yuchi",
    "单于": "chanyu", "單于": "chanyu", "长孙": "zhangsun", "長孫": "zhangsun",
    "曾": "zeng", "单": "shan", "單": "shan", "解": "xie", "仇": "qiu", "区": "ou", "區": "ou",
    "朴": "piao", "查": "zha", "缪": "miao", "繆": "miao", "翟": "zhai", "覃": "qin",
}  # fmt: skip
_COMPOUND_SURNAMES = sorted((s for s in SURNAME_READINGS if len(s) > 1), key=len, reverse=True)

# Latin letters that NFKD does not decompose into a base letter and a mark.
_LATIN_SPELLED = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i", "ħ": "h"}
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_han(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK ")  # unified and compatibility ideographs


@cache
def _reading(char: str) -> str:
    return _pinyin()(char, errors="ignore")[0].replace("v", "yu") if _is_han(char) else char


@cache
def _pinyin() -> Callable[..., list[str]]:
    """pypinyin, loaded when a name is first read, without its phrase
    dictionary: that serves splitting running text into words (44 MiB and
    1.5 s to load in every process), and names are read a character at a
    time. Processes that never read a name (the deliverer, the clock) do
    not load pypinyin at all."""
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
    from pypinyin import lazy_pinyin

    return lazy_pinyin


def _fold(text: str) -> str:
    """Lower-case letters only: Han characters read in pinyin, accents and
    everything that is not a letter dropped."""
    spelt = "".join(_reading(char) for char in text)
    decomposed = unicodedata.normalize("NFKD", spelt.casefold()).translate(_LATIN_SPELLED)
    if any(unicodedata.category(char) == "Nd" for char in decomposed):
        raise ObservableError(_("A name holds no digits."))
    return "".join(char for char in decomposed if unicodedata.category(char).startswith("L"))


def _family(text: str) -> str:
    text = text.strip()
    for surname in _COMPOUND_SURNAMES:
        if text.startswith(surname):
            return SURNAME_READINGS[surname] + _fold(text[len(surname) :])
    if text[:1] in SURNAME_READINGS:
        return SURNAME_READINGS[text[:1]] + _fold(text[1:])
    return _fold(text)


def name_key(family: str, given: str = "") -> str:
    """The name key: family name first, then the given name. A name whose
    parts are not separated (a single field holding 郭声琨, or the stored key)
    goes in `family` whole, with no surname reading applied after its start."""
    key = _family(family) + _fold(given)
    if not key:
        raise ObservableError(_("The name holds no letters."))
    return key


def birth_date(text: str) -> str:
    value = text.strip()
    if not _DATE.fullmatch(value):
        raise ObservableError(_("The date of birth is written YYYY-MM-DD."))
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ObservableError(_("%(value)s is not a date."), value=value) from None


def person_key(family: str, given: str, born: str) -> str:
    return f"{name_key(family, given)}|{birth_date(born)}"


def normalise_person(raw: str, **context: str) -> str:
    """Raw is "family|given|YYYY-MM-DD", or "name|YYYY-MM-DD" with the name in
    family-first order (which is how the normal form reads, so normalising a
    normal form gives it back)."""
    parts = stripped(raw).split("|")
    if len(parts) == 3:
        return person_key(*parts)
    if len(parts) == 2:
        return person_key(parts[0], "", parts[1])
    raise ObservableError(
        _("A person is matched on name and date of birth: write family|given|YYYY-MM-DD.")
    )
