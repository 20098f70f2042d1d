"""Addresses on networks: IP addresses and ranges (ipaddress), domain names
(IDNA 2008 through the `idna` package, with UTS #46 mapping), e-mail
addresses, URLs and telephone numbers (phonenumbers, E.164).

Decisions:
- The ipv4 and ipv6 types accept an address of either family and the
  observable takes the family of the address; an IPv4-mapped IPv6 address
  (::ffff:192.0.2.1) is the IPv4 address, so both spellings meet.
- Leading zeros in an IPv4 octet are refused as ambiguous; so are IPv6 zone
  indexes (fe80::1%eth0).
- A range with host bits set (192.0.2.1/24) is refused, naming the range it
  would be; a range without a prefix length is refused too (an address
  belongs under ipv4/ipv6). A range meets only the same range: containment
  is not equality.
- Domains: see normalise_domain; ASCII labels may hold underscores.
- E-mail: the local part is case-sensitive (kept), the domain is not.
- URLs: see normalise_url; a single-label host (intranet) is allowed there.
- Telephone numbers: `region` is the default country for national format."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import idna
import phonenumbers
from django.utils.translation import gettext_lazy as _

from accord.cases.observables.base import ObservableError, stripped

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- IP addresses and ranges ------------------------------------------------


def _address(value: str) -> IPAddress:
    if "%" in value:
        # A zone index (fe80::1%eth0) names an interface of one host: it means
        # nothing to anyone else, so it cannot identify anything.
        raise ObservableError(
            _("An IPv6 zone index (after the percent sign) is local to one host.")
        )
    if re.search(r"(^|\.)0\d", value) and ":" not in value:
        # 010.1.1.1 is 10.1.1.1 to some parsers and 8.1.1.1 (octal) to
        # inet_aton: refuse instead of guessing.
        raise ObservableError(
            _("Leading zeros in an IPv4 address are ambiguous (octal or decimal).")
        )
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ObservableError(_("%(value)s is not an IP address."), value=value) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        # ::ffff:192.0.2.1 is how a dual-stack socket reports 192.0.2.1.
        return address.ipv4_mapped
    return address


def normalise_ip(raw: str, **context: str) -> str:
    """Either family; IPv6 in RFC 5952 form (compressed, lower case), an
    IPv4-mapped IPv6 address as the IPv4 address it carries."""
    return str(_address(stripped(raw)))


def ip_family(normal: str) -> str:
    return "ipv6" if ":" in normal else "ipv4"


def normalise_cidr(raw: str, **context: str) -> str:
    """A range with its prefix length. Host bits set (192.0.2.1/24) are refused
    rather than cleared: that is interface notation, one host and its subnet,
    and silently widening it to the whole subnet would change its meaning."""
    value = stripped(raw)
    address, sep, prefix = value.partition("/")
    if not sep or not prefix.isdigit():
        raise ObservableError(_("A range needs a prefix length, as in 192.0.2.0/24."))
    host = _address(address.strip())
    length = int(prefix)
    if isinstance(host, ipaddress.IPv4Address) and ":" in address:
        length -= 96  # the IPv4-mapped range ::ffff:192.0.2.0/120 is 192.0.2.0/24
    try:
        network: IPNetwork = ipaddress.ip_network(f"{host}/{length}", strict=True)
    except ValueError:
        try:
            wider = ipaddress.ip_network(f"{host}/{length}", strict=False)
        except ValueError:
            raise ObservableError(_("%(value)s is not a valid range."), value=value) from None
        raise ObservableError(
            _("Host bits are set in %(value)s; the range is %(range)s."), value=value, range=wider
        ) from None
    return str(network)


# --- Domain names -------------------------------------------------------------

_ASCII_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def _label_reason(label: str) -> ObservableError:
    """Why idna refused the domain, told about the label at fault."""
    if not label:
        return ObservableError(_("The domain has an empty label (two dots in a row)."))
    if len(label) > 63:
        return ObservableError(_("The label %(label)s is longer than 63 characters."), label=label)
    if label.startswith("-") or label.endswith("-"):
        return ObservableError(_("The label %(label)s starts or ends with a hyphen."), label=label)
    for char in label:
        if char != "-" and not unicodedata.category(char).startswith(("L", "M", "N")):
            return ObservableError(
                _("The character %(char)s is not allowed in a domain name."), char=char
            )
    return ObservableError(_("The label %(label)s is not valid under IDNA 2008."), label=label)


def _encode_label(label: str) -> str:
    # DNS allows underscores (RFC 2181 §11) and hostile hosts use them, since
    # browsers resolve them; IDNA does not, so an ASCII label keeps its own rule.
    if "_" in label and label.isascii():
        if not _ASCII_LABEL.fullmatch(label):
            raise _label_reason(label)
        return label
    try:
        return idna.encode(label, uts46=False).decode("ascii")
    except idna.IDNAError:
        raise _label_reason(label) from None


def normalise_domain(raw: str, **context: str) -> str:
    """Lower case, A-label (xn--) form under IDNA 2008 with the UTS #46 mapping
    (full-width letters, upper case), trailing dot dropped. At least two
    labels, and the top-level label is not all digits (RFC 3696 §2), so an IP
    address is not taken for a domain."""
    value = stripped(raw)
    try:
        mapped = idna.uts46_remap(value, std3_rules=False, transitional=False)
    except idna.IDNAError:
        raise ObservableError(_("%(value)s is not a domain name."), value=value) from None
    mapped = mapped.removesuffix(".")
    labels = [_encode_label(label) for label in mapped.split(".")]
    if len(labels) < 2:
        raise ObservableError(_("A domain name needs at least two labels, as in example.org."))
    if labels[-1].isdigit():
        raise ObservableError(_("%(value)s looks like an IP address, not a domain."), value=value)
    domain = ".".join(labels)
    if len(domain) > 253:
        raise ObservableError(_("The domain name is longer than 253 characters."))
    return domain


def display_domain(normal: str) -> str:
    """The Unicode (U-label) form a person reads: bücher.example."""
    try:
        return ".".join(
            idna.decode(label) if "_" not in label else label for label in normal.split(".")
        )
    except idna.IDNAError:
        return normal


# --- E-mail addresses -----------------------------------------------------------

# RFC 5322 specials and white space: a local part that needs quoting is too
# rare in case work to be worth the ambiguity of accepting it.
_LOCAL_FORBIDDEN = re.compile(r'[\s"(),:;<>@\[\\\]]')


def normalise_email(raw: str, **context: str) -> str:
    """The local part kept as written (RFC 5321 §2.4 lets it be case-sensitive;
    only its Unicode form is made NFC, RFC 6532 §3.1) and the domain
    normalised as a domain."""
    value = stripped(raw)
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise ObservableError(_("An e-mail address needs a local part, @ and a domain."))
    local = unicodedata.normalize("NFC", local)
    if _LOCAL_FORBIDDEN.search(local) or local.startswith(".") or local.endswith("."):
        raise ObservableError(
            _("The part before @ in %(value)s holds a character that is not allowed."),
            value=value,
        )
    if len(local.encode()) > 64:
        raise ObservableError(_("The part before @ is longer than 64 bytes."))
    return f"{local}@{normalise_domain(domain)}"


def display_email(normal: str) -> str:
    local, _at, domain = normal.rpartition("@")
    return f"{local}@{display_domain(domain)}"


# --- URLs ---------------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


def _url_host(host: str) -> str:
    if host.startswith("["):
        if not host.endswith("]"):
            raise ObservableError(_("The URL's IPv6 host lacks its closing bracket."))
        address = _address(host[1:-1])
        return f"[{address}]" if address.version == 6 else str(address)
    if re.fullmatch(r"[0-9.]+", host):
        return str(_address(host))
    if "." not in host.removesuffix("."):
        # A single-label host (an intranet name) is a valid URL host.
        try:
            label = idna.uts46_remap(host.removesuffix("."), std3_rules=False)
        except idna.IDNAError:
            raise _label_reason(host) from None
        return _encode_label(label)
    return normalise_domain(host)


def normalise_url(raw: str, **context: str) -> str:
    """Scheme and host lower-cased, the host as a domain (IDNA) or an IP
    address, the scheme's default port dropped and an empty http(s) path
    written "/" (RFC 3986 §6.2.3). Path, query and fragment are kept exactly:
    whether they are case-sensitive is up to the server."""
    value = stripped(raw)
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in value):
        raise ObservableError(
            _("A URL cannot hold spaces or control characters; percent-encode them.")
        )
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ObservableError(_("%(value)s is not a URL."), value=value) from None
    try:
        port = parts.port
    except ValueError:
        raise ObservableError(
            _("The port of %(value)s is not a number from 0 to 65535."), value=value
        ) from None
    if not parts.scheme or not parts.netloc or not parts.hostname:
        raise ObservableError(_("A URL needs a scheme and a host, as in https://example.org/."))
    scheme = parts.scheme.lower()
    userinfo, _at, hostport = parts.netloc.rpartition("@")
    host = hostport
    if port is not None or hostport.endswith(":"):
        host = hostport[: hostport.rindex(":")]
    netloc = _url_host(host)
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    # Everything after the authority, exactly as written.
    rest = value[len(parts.scheme) + 3 + len(parts.netloc) :]
    if scheme in DEFAULT_PORTS and not rest.startswith("/"):
        rest = f"/{rest}"
    return f"{scheme}://{netloc}{rest}"


# --- Telephone numbers -----------------------------------------------------------


def normalise_phone(raw: str, **context: str) -> str:
    """E.164 (+8613800138000). A number in national format needs the country
    it is dialled in, `region` (ISO 3166-1 alpha-2, the node's own country by
    default where the caller chooses so); a number that is not valid for its
    country (wrong length or unassigned range) is refused."""
    value = stripped(raw)
    region = (context.get("region") or "").strip().upper() or None
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ObservableError(
            _("%(region)s is not a country for telephone numbers."), region=region
        )
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise ObservableError(
                _("%(value)s has no country code; write it as +… or give the country."),
                value=value,
            ) from None
        raise ObservableError(_("%(value)s is not a telephone number."), value=value) from None
    if not phonenumbers.is_valid_number(number):
        raise ObservableError(
            _("%(value)s is not a valid telephone number for its country."), value=value
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(normal: str) -> str:
    number = phonenumbers.parse(normal, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
