"""A scripted DBSC client for the test suites (issue 15, docs/dbsc.md): test-only, never shipped.

It speaks the wire format Chrome 145+ speaks (docs/dbsc.md §1.2-1.6) and can build every
malformed or hostile variant of docs/dbsc.md Part 3, so the framework tests can drive Flask,
Django and the C example server over real HTTP the way a browser (or a thief) would.

- Keys: :func:`generate` ("ES256" = P-256, "RS256" = RSA-2048), :func:`rsa_1024` (weak),
  :func:`p384`; :func:`jwk` gives the public JWK, :func:`jwk_with_private_d` and
  :func:`jwk_off_curve` the hostile ones.
- Proofs: :func:`proof` builds the compact ``dbsc+jwt`` JWS; keyword overrides build the bad
  variants (see its docstring).
- Header parsers: :func:`parse_registration`, :func:`parse_challenge` -- small strict RFC 9651
  parsers for exactly the shapes DBSC uses, refusing anything else (a server bug should fail a
  test, not be tolerated the way a browser would).
- :class:`DbscBrowser`: plays Chrome against a base URL over real HTTP with a cookie jar the test
  controls (copy it, steal from it, edit it).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Optional, Union

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, rsa.RSAPublicKey]

#: Chrome's header names (docs/dbsc.md §1.2); the legacy ``Sec-Session-*`` names are not spoken.
REGISTRATION = "Secure-Session-Registration"
RESPONSE = "Secure-Session-Response"
SESSION_ID = "Sec-Secure-Session-Id"
CHALLENGE = "Secure-Session-Challenge"
#: Chrome's ``kMaxChallenges``: signed retries per refresh before it gives up (fatal).
MAX_CHALLENGES = 5
#: The algorithms Chrome can sign with, in no particular order (it follows the server's list).
SUPPORTED_ALGS = ("ES256", "RS256")

# P-256 domain parameters (SEC 2), only to build a point that is certainly off the curve.
_P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


class HeaderError(ValueError):
    """A DBSC response header that does not have exactly the shape docs/dbsc.md §1.2 gives."""


# ---------------------------------------------------------------------------------------------
# base64url and keys


def b64u(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode base64url, padded or not (test assertions read the padded variant too)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate(alg: str) -> PrivateKey:
    """A fresh key for ``alg``: "ES256" -> P-256, "RS256" -> RSA-2048 (e = 65537)."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"no key type for alg {alg!r}")


def rsa_1024() -> rsa.RSAPrivateKey:
    """A weak RSA key (R5: the server must answer ``weak_key``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- weak on purpose


def p384() -> ec.EllipticCurvePrivateKey:
    """A P-384 key (R12: ``crv: "P-384"`` is not ES256's curve)."""
    return ec.generate_private_key(ec.SECP384R1())


def _int_bytes(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _coord_size(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def jwk(public: PublicKey) -> dict[str, str]:
    """The public JWK Chrome puts in a registration header (``ConvertPkeySpkiToJwk``):
    EC ``{kty, crv, x, y}``, RSA ``{kty, n, e}``, base64url without padding, fixed-size EC
    coordinates, minimal big-endian RSA integers."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        nums = public.public_numbers()
        size = _coord_size(public.curve)
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[public.curve.name]
        return {
            "kty": "EC",
            "crv": crv,
            "x": b64u(_int_bytes(nums.x, size)),
            "y": b64u(_int_bytes(nums.y, size)),
        }
    rnums = public.public_numbers()
    return {
        "kty": "RSA",
        "n": b64u(_int_bytes(rnums.n, (rnums.n.bit_length() + 7) // 8)),
        "e": b64u(_int_bytes(rnums.e, (rnums.e.bit_length() + 7) // 8)),
    }


_public_jwk = jwk  # proof() has a parameter named jwk


def jwk_with_private_d(key: PrivateKey) -> dict[str, str]:
    """R12: the public JWK plus the private member ``d`` (a server must refuse private JWKs)."""
    out = jwk(key.public_key())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        out["d"] = b64u(_int_bytes(key.private_numbers().private_value, _coord_size(key.curve)))
    else:
        d = key.private_numbers().d
        out["d"] = b64u(_int_bytes(d, (d.bit_length() + 7) // 8))
    return out


def jwk_off_curve(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """R12: the P-256 JWK of ``key`` with ``y`` changed so that (x, y) is not on the curve
    (checked against the curve equation, so the variant is off the curve by construction)."""
    out = jwk(key.public_key())
    x = int.from_bytes(b64u_decode(out["x"]), "big")
    y = int.from_bytes(b64u_decode(out["y"]), "big")
    rhs = (pow(x, 3, _P256_P) - 3 * x + _P256_B) % _P256_P
    while True:
        y = (y + 1) % _P256_P
        if pow(y, 2, _P256_P) != rhs:
            break
    out["y"] = b64u(_int_bytes(y, 32))
    return out


def natural_alg(key: PrivateKey) -> str:
    """The JWS ``alg`` a key signs with here: every EC key signs ECDSA-SHA256 ("ES256", also a
    P-384 key, for R12), every RSA key PKCS#1 v1.5 SHA-256 ("RS256")."""
    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"


def sign(key: PrivateKey, data: bytes, *, der: bool = False) -> bytes:
    """A JWS signature over ``data``: EC -> raw ``r‖s`` (each coordinate-sized, big-endian, as
    JWS and Chrome's ``ConvertEcdsaDerSignatureToRaw`` give; ``der=True`` keeps the ASN.1 DER
    form instead, R6), RSA -> PKCS#1 v1.5 with SHA-256."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
        if der:
            return sig
        r, s = decode_dss_signature(sig)
        size = _coord_size(key.curve)
        return _int_bytes(r, size) + _int_bytes(s, size)
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# ---------------------------------------------------------------------------------------------
# proofs

#: "Use the default" for :func:`proof`'s ``jwk`` override (None means "no jwk member").
DEFAULT: Any = object()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def proof(
    key: Optional[PrivateKey],
    jti: str,
    *,
    registration: bool,
    alg: Optional[str] = None,
    typ: str = "dbsc+jwt",
    jwk: Any = DEFAULT,
    header_extra: Optional[dict[str, Any]] = None,
    claims: Optional[dict[str, Any]] = None,
    duplicate_jti: Optional[str] = None,
    der_signature: bool = False,
    flip_bit: Optional[int] = None,
    padded_header: bool = False,
    signature: Optional[bytes] = None,
) -> str:
    """The compact JWS Chrome sends in ``Secure-Session-Response`` (docs/dbsc.md §1.5):
    header ``{"alg", "typ": "dbsc+jwt"[, "jwk"]}`` (``jwk`` = the public key, only when
    ``registration``), payload ``{"jti": jti}``, signed by ``key`` over the ASCII
    ``b64u(header) "." b64u(payload)``.

    Overrides, each changing exactly one thing (docs/dbsc.md Part 3):

    - ``alg``: the header's ``alg`` (default from the key, :func:`natural_alg`); the signature
      still follows the key's type, so ``alg="ES256"`` with an RSA key is R4, ``alg="RS256"``
      with a P-256 key F5. ``alg="none"`` (R3): empty signature, no ``jwk`` by default.
    - ``typ``: e.g. "jwt" (R2).
    - ``jwk``: a dict (e.g. :func:`jwk_with_private_d`, :func:`jwk_off_curve`, another key's
      JWK), or None for no member; at refresh, a dict puts a ``jwk`` in a refresh header (F9).
    - ``header_extra``: more header members, e.g. ``{"crit": ["exp"]}`` (R13).
    - ``claims``: more payload members, e.g. ``{"aud": ..., "iat": ...}`` (must be ignored).
    - ``duplicate_jti``: hand-built payload text with a second ``"jti"`` member (R13).
    - ``der_signature``: an ES256 signature in DER (R6). ``flip_bit``: flip that bit of the
      signature, 0 = the first byte's top bit (R7). ``signature``: these bytes verbatim.
    - ``padded_header``: the header's base64url with ``=`` padding (R13); the header text gets
      one trailing space when its length would need none, so the padding is always there.
    """
    if alg is None:
        if key is None:
            raise ValueError("a proof without a key needs an explicit alg")
        alg = natural_alg(key)
    header: dict[str, Any] = {"alg": alg, "typ": typ}
    if jwk is DEFAULT:
        if registration and alg != "none":
            if key is None:
                raise ValueError("a registration proof needs a key for its jwk")
            header["jwk"] = _public_jwk(key.public_key())
    elif jwk is not None:
        header["jwk"] = jwk
    header.update(header_extra or {})
    header_text = _json(header)

    if duplicate_jti is not None:
        body = {k: v for k, v in (claims or {}).items() if k != "jti"}
        rest = "".join(f",{_json(k)}:{_json(v)}" for k, v in body.items())
        payload_text = f'{{"jti":{_json(jti)},"jti":{_json(duplicate_jti)}{rest}}}'
    else:
        payload_text = _json({"jti": jti, **(claims or {})})

    if padded_header:
        if len(header_text.encode()) % 3 == 0:
            header_text += " "
        header_b64 = base64.urlsafe_b64encode(header_text.encode()).decode("ascii")
    else:
        header_b64 = b64u(header_text.encode())
    signing_input = f"{header_b64}.{b64u(payload_text.encode())}"

    if signature is not None:
        sig = signature
    elif alg == "none":
        sig = b""
    else:
        if key is None:
            raise ValueError("a signed proof needs a key")
        sig = sign(key, signing_input.encode("ascii"), der=der_signature)
    if flip_bit is not None:
        flipped = bytearray(sig)
        flipped[flip_bit // 8] ^= 0x80 >> (flip_bit % 8)
        sig = bytes(flipped)
    return f"{signing_input}.{b64u(sig)}"


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(header, payload, signature) of a compact JWS, for assertions (no verification; a
    duplicate member keeps the last value, as Python's json does)."""
    h, p, s = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), b64u_decode(s)


# ---------------------------------------------------------------------------------------------
# RFC 9651 parsers for the two DBSC response headers (test-only, strict)

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")


class _Cursor:
    """A position in one header value; every method refuses what the grammar does not allow."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise HeaderError("non-ASCII header value")
        self.text = text.strip(" ")
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise HeaderError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        m = pattern.match(self.text, self.pos)
        if not m:
            raise HeaderError(f"expected a {what} at {self.pos}")
        self.pos = m.end()
        return m.group()

    def string(self) -> str:
        """sf-string: DQUOTE *( %x20-21 / %x23-5B / %x5D-7E / "\\" ( DQUOTE / "\\" ) ) DQUOTE"""
        self.expect('"')
        out: list[str] = []
        while True:
            c = self.peek()
            if c == "":
                raise HeaderError("unterminated string")
            self.pos += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\"):
                    raise HeaderError(f"bad escape at {self.pos}")
                out.append(nxt)
                self.pos += 1
            elif " " <= c <= "~":
                out.append(c)
            else:
                raise HeaderError(f"control character in string at {self.pos}")

    def params(self) -> dict[str, str]:
        """``*( ";" *SP key "=" sf-string )``: every value must be a string here (the DBSC
        parameters all are); a duplicate key is refused rather than last-wins."""
        out: dict[str, str] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.match(_KEY, "key")
            if key in out:
                raise HeaderError(f"duplicate parameter {key!r}")
            self.expect("=")
            out[key] = self.string()
        return out

    def list_separator(self) -> bool:
        """After a member: end of input (False), or ``OWS "," OWS`` before another (True)."""
        self.skip(" \t")
        if self.done():
            return False
        self.expect(",")
        self.skip(" \t")
        if self.done():
            raise HeaderError("trailing comma")
        return True


@dataclass(frozen=True)
class Offer:
    """One ``Secure-Session-Registration`` entry."""

    algs: tuple[str, ...]
    path: str
    challenge: str
    authorization: Optional[str] = None


def parse_registration(value: str) -> list[Offer]:
    """``Secure-Session-Registration``: an RFC 9651 List of inner lists of tokens with string
    parameters, e.g. ``(ES256 RS256);path="/_tessera/dbsc/register";challenge="cv"``. ``path``
    and ``challenge`` are required (Chromium drops an entry without a challenge; a test should
    fail on one); unknown parameters are allowed (federation ones), bare items are not.
    Several header lines: join them with ", " first."""
    cur = _Cursor(value)
    if cur.done():
        raise HeaderError("empty Secure-Session-Registration")
    out: list[Offer] = []
    while True:
        cur.expect("(")
        algs: list[str] = []
        cur.skip(" ")
        while cur.peek() != ")":
            if algs:
                if cur.peek() != " ":
                    raise HeaderError(f"expected a space between tokens at {cur.pos}")
                cur.skip(" ")
                if cur.peek() == ")":
                    break
            algs.append(cur.match(_TOKEN, "token"))
        cur.expect(")")
        if not algs:
            raise HeaderError("an offer without algorithms")
        params = cur.params()
        if "path" not in params or "challenge" not in params:
            raise HeaderError("an offer needs path and challenge")
        auth = params.get("authorization")
        out.append(Offer(tuple(algs), params["path"], params["challenge"], auth))
        if not cur.list_separator():
            return out


def parse_challenge(value: str) -> list[tuple[str, str]]:
    """``Secure-Session-Challenge``: an RFC 9651 List of sf-strings, each with the string
    parameter ``id``, e.g. ``"C1";id="BID"`` -> ``[("C1", "BID")]``. An entry without ``id``
    is refused (Chrome would drop it; a Tessera server must always send it)."""
    cur = _Cursor(value)
    if cur.done():
        raise HeaderError("empty Secure-Session-Challenge")
    out: list[tuple[str, str]] = []
    while True:
        challenge = cur.string()
        params = cur.params()
        if "id" not in params:
            raise HeaderError("a challenge without id")
        out.append((challenge, params["id"]))
        if not cur.list_separator():
            return out


# ---------------------------------------------------------------------------------------------
# the browser


@dataclass
class Response:
    """One HTTP exchange as the browser saw it: what it sent and what came back."""

    method: str
    path: str
    sent: dict[str, str]
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """All lines of ``name`` joined with ", " (RFC 9110 §5.3), or None if absent."""
        values = self.header_all(name)
        return ", ".join(values) if values else None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def set_cookies(self) -> list[str]:
        return self.header_all("Set-Cookie")

    def json(self) -> Any:
        return json.loads(self.body)


class CookieJar:
    """The browser's cookies as a plain ``name -> value`` dict the test owns (``jar.cookies``):
    host-only, path "/", as Tessera's cookies are. ``Set-Cookie`` replaces a value; ``Max-Age``
    <= 0 or an ``Expires`` in the past deletes it. Cookies are never aged by the wall clock: the
    tests move the server's manual clock, and the server, not the jar, judges expiry (a thief's
    client ignores ``Max-Age`` anyway)."""

    def __init__(self, cookies: Optional[dict[str, str]] = None) -> None:
        self.cookies: dict[str, str] = dict(cookies or {})
        #: The attributes of the last ``Set-Cookie`` per name (lower-case keys), for assertions.
        self.attributes: dict[str, dict[str, str]] = {}

    def header(self) -> Optional[str]:
        if not self.cookies:
            return None
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def absorb(self, set_cookie: str) -> None:
        pair, *attrs = [part.strip() for part in set_cookie.split(";")]
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise ValueError("Set-Cookie without name=value")
        parsed: dict[str, str] = {}
        for attr in attrs:
            k, _, v = attr.partition("=")
            parsed[k.strip().lower()] = v.strip()
        delete = False
        if "max-age" in parsed:
            delete = int(parsed["max-age"]) <= 0
        elif "expires" in parsed:
            expires = parsedate_to_datetime(parsed["expires"])
            delete = expires <= datetime.now(timezone.utc)
        if delete:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value
        self.attributes[name] = parsed

    def copy(self, *names: str) -> CookieJar:
        """A new jar with these cookies (all when none are named): a thief's stolen copy."""
        keep = names or tuple(self.cookies)
        return CookieJar({k: self.cookies[k] for k in keep if k in self.cookies})


def _config(r: Response) -> Optional[tuple[dict[str, Any], str]]:
    """The session config in ``r``'s body and its (first) cookie credential's name, or None
    when Chrome would refuse it: not JSON, no
    ``session_identifier``, no cookie credential (only the fields the browser uses are checked;
    the framework tests assert the rest)."""
    try:
        config = r.json()
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    sid = config.get("session_identifier")
    creds = config.get("credentials")
    if not isinstance(sid, str) or not sid or not isinstance(creds, list):
        return None
    cookies = [c for c in creds if isinstance(c, dict) and c.get("type") == "cookie"]
    if not cookies or not isinstance(cookies[0].get("name"), str):
        return None
    return config, cookies[0]["name"]


class DbscBrowser:
    """Chrome's DBSC machinery, scripted, against ``base_url`` over real HTTP.

    ``base_url`` is where to connect (``http://127.0.0.1:PORT``); ``origin`` the ``Origin`` the
    page has (default: ``base_url``'s origin); ``extra_headers`` go on every request (e.g.
    ``{"X-Forwarded-Proto": "https"}`` when the framework is told the request is HTTPS, or a
    ``Host``); ``quoted`` sends ``Secure-Session-Response`` and ``Sec-Secure-Session-Id`` as
    sf-strings instead of Chrome's bare values.

    State: ``jar``, ``key``/``alg`` (the DBSC key), ``session_identifier``, ``refresh_url``,
    ``bound_cookie`` (its name), ``config`` (the last session config), ``cached_challenge``,
    ``offers`` (the last ``Secure-Session-Registration`` seen), ``ended`` (why Chrome would have
    deleted the DBSC session, or None). Every response's ``Set-Cookie`` lines update the jar,
    its ``Secure-Session-Registration`` the offers, its challenge for our session the cache.
    Nothing refreshes on its own: the test calls :meth:`refresh` (deterministic steps).
    """

    def __init__(
        self,
        base_url: str,
        *,
        origin: Optional[str] = None,
        extra_headers: Optional[dict[str, str]] = None,
        quoted: bool = False,
        jar: Optional[CookieJar] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.origin = origin or f"{url.scheme}://{url.netloc}"
        self.extra_headers = dict(extra_headers or {})
        self.quoted = quoted
        self.jar = jar if jar is not None else CookieJar()
        self.ssl_context = ssl_context
        self.key: Optional[PrivateKey] = None
        self.alg: Optional[str] = None
        self.session_identifier: Optional[str] = None
        self.refresh_url: Optional[str] = None
        self.bound_cookie: Optional[str] = None
        self.config: Optional[dict[str, Any]] = None
        self.cached_challenge: Optional[str] = None
        self.offers: list[Offer] = []
        self.ended: Optional[str] = None
        #: (challenge, proof) of the last signed refresh proof: Chrome re-sends an identical
        #: proof for an identical challenge (its signing cache, docs/dbsc.md §1.5).
        self.last_proof: Optional[tuple[str, str]] = None

    # -- plain HTTP ---------------------------------------------------------------------------

    def _target(self, path: str) -> str:
        """A request target for ``path`` (absolute URLs are reduced to path + query: the
        connection always goes to ``base_url``)."""
        parts = urllib.parse.urlsplit(path)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if not parts.scheme and not target.startswith("/"):
            raise ValueError(f"not an absolute path: {path!r}")
        return target

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Optional[dict[str, str]] = None,
        body: bytes = b"",
        form: Optional[dict[str, str]] = None,
        json_body: Any = None,
        cookies: bool = True,
    ) -> Response:
        """One request with the jar's cookies (``cookies=False``: none, or pass ``Cookie`` in
        ``headers`` to send exactly that); the answer updates the jar and the DBSC state.
        ``form`` / ``json_body`` encode a body with its ``Content-Type`` (a sign-in form)."""
        url = urllib.parse.urlsplit(self.base_url)
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(url.netloc, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(url.netloc)
        sent = dict(self.extra_headers)
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(form).encode()
        elif json_body is not None:
            sent["Content-Type"] = "application/json"
            body = json.dumps(json_body).encode()
        sent.update(headers or {})
        cookie = self.jar.header()
        if cookies and cookie and not any(k.lower() == "cookie" for k in sent):
            sent["Cookie"] = cookie
        target = self._target(path)
        try:
            payload = body if body or method == "POST" else None
            conn.request(method, target, body=payload, headers=sent)
            raw = conn.getresponse()
            out = Response(method, target, sent, raw.status, raw.getheaders(), raw.read())
        finally:
            conn.close()
        self._absorb(out)
        return out

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def _absorb(self, r: Response) -> None:
        for line in r.set_cookies:
            self.jar.absorb(line)
        offers = r.header(REGISTRATION)
        if offers is not None:
            self.offers = parse_registration(offers)
        self._cache_challenge(r)

    def _cache_challenge(self, r: Response) -> Optional[str]:
        """The last challenge for our session in ``r`` becomes the cached one (Chrome drops
        entries for other sessions; the last one wins)."""
        value = r.header(CHALLENGE)
        if value is None or self.session_identifier is None:
            return None
        mine = [c for c, sid in parse_challenge(value) if sid == self.session_identifier]
        if mine:
            self.cached_challenge = mine[-1]
            return mine[-1]
        return None

    # -- DBSC ---------------------------------------------------------------------------------

    def _sf(self, value: str) -> str:
        return f'"{value}"' if self.quoted else value

    def dbsc_post(
        self,
        path: str,
        *,
        proof: Optional[str],
        session_id: Optional[str] = None,
        headers: Optional[dict[str, str]] = None,
        cookies: bool = True,
    ) -> Response:
        """A DBSC request exactly as Chrome's fetcher makes it (docs/dbsc.md §1.2,
        ``ConfigureRequest``): POST, empty body, cookies, ``Origin``, ``Sec-Fetch-*``, plus
        ``Secure-Session-Response``/``Sec-Secure-Session-Id`` when given (None: header
        absent, for R1/F1/F3). ``headers`` add to or override these."""
        sent = {
            "Origin": self.origin,
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "no-cors",
            "Sec-Fetch-Dest": "empty",
        }
        if session_id is not None:
            sent[SESSION_ID] = self._sf(session_id)
        if proof is not None:
            sent[RESPONSE] = self._sf(proof)
        sent.update(headers or {})
        return self.request("POST", path, headers=sent, cookies=cookies)

    def register(
        self,
        offer: Optional[Offer] = None,
        *,
        key: Optional[PrivateKey] = None,
        proof_token: Optional[str] = None,
        **overrides: Any,
    ) -> Response:
        """Register ``offer`` (default: the first one last seen): pick the first algorithm of
        the offer Chrome supports, make a key (or use ``key``), sign ``jti = challenge`` with
        the public key in the header, POST to the offer's ``path``. A 200 stores the key, the
        config (session_identifier, refresh_url, bound cookie name) and any challenge for the
        new session; the bound cookie lands in the jar through ``Set-Cookie``. ``overrides``
        go to :func:`proof` (hostile variants); ``proof_token`` sends that text verbatim.

        As Chrome, the session is not stored (``ended`` says why) when the 200's body is not a
        usable config (``invalid_config``) or the response did not set the config's cookie
        (``bound_cookie_not_set``)."""
        if offer is None:
            if not self.offers:
                raise ValueError("no Secure-Session-Registration offer seen")
            offer = self.offers[0]
        if key is None:
            alg = next((a for a in offer.algs if a in SUPPORTED_ALGS), None)
            if alg is None:
                raise ValueError(f"no supported algorithm in {offer.algs}")
            key = generate(alg)
        alg = overrides.get("alg") or natural_alg(key)
        if proof_token is None:
            proof_token = proof(key, offer.challenge, registration=True, **overrides)
        extra = {"Authorization": offer.authorization} if offer.authorization is not None else {}
        r = self.dbsc_post(offer.path, proof=proof_token, headers=extra)
        if r.status != 200:
            return r
        found = _config(r)
        if found is None:
            self._end("invalid_config")
            return r
        config, name = found
        if not any(self._sets(line, name) for line in r.set_cookies):
            self._end("bound_cookie_not_set")
            return r
        self.key, self.alg = key, alg
        self.ended = None
        self.cached_challenge = None
        self.last_proof = None
        self._apply_config(config, name, default_refresh=offer.path)
        self._cache_challenge(r)
        return r

    @staticmethod
    def _sets(set_cookie: str, name: str) -> bool:
        """Whether this ``Set-Cookie`` line stores ``name`` (not a deletion)."""
        jar = CookieJar()
        jar.absorb(set_cookie)
        return name in jar.cookies

    def _apply_config(self, config: dict[str, Any], name: str, *, default_refresh: str) -> None:
        self.config = config
        self.session_identifier = config["session_identifier"]
        self.refresh_url = config.get("refresh_url") or default_refresh
        self.bound_cookie = name

    def _end(self, why: str) -> None:
        """Chrome deletes its DBSC session and key; cookies stay as the server set them."""
        self.ended = why
        self.key = None
        self.cached_challenge = None
        self.last_proof = None

    def refresh_proof(self, challenge: str, **overrides: Any) -> str:
        """The refresh proof for ``challenge`` (no ``jwk``), reusing the last one for the same
        challenge as Chrome's signing cache does (not when ``overrides`` are given)."""
        if overrides:
            key = overrides.pop("key", self.key)
            return proof(key, challenge, registration=False, **overrides)
        if self.last_proof is not None and self.last_proof[0] == challenge:
            return self.last_proof[1]
        if self.key is None:
            raise ValueError("no DBSC key: register first")
        token = proof(self.key, challenge, registration=False, alg=self.alg)
        self.last_proof = (challenge, token)
        return token

    def refresh(self, *, max_challenges: int = MAX_CHALLENGES, **overrides: Any) -> list[Response]:
        """The refresh loop of docs/dbsc.md §1.6: POST ``refresh_url`` with
        ``Sec-Secure-Session-Id`` and, if a challenge is cached, its proof; on 403 take the
        last ``Secure-Session-Challenge`` whose ``id`` is ours, sign it, retry -- at most
        ``max_challenges`` signed retries. Returns every response seen. Afterwards ``ended``
        says whether Chrome would have deleted the DBSC session: ``continue_false``,
        ``invalid_config`` (a 200 body that is no config), ``mismatched_session_id``,
        ``invalid_challenge`` (403 without one for us), ``too_many_challenges``,
        ``persistent_http_error`` (other 3xx/4xx incl. 401); 5xx leaves it (transient).
        ``overrides`` go to every proof (e.g. ``key=other_key``)."""
        if self.session_identifier is None or self.refresh_url is None or self.ended:
            raise ValueError("no live DBSC session to refresh")
        seen: list[Response] = []
        retries = 0
        while True:
            challenge = self.cached_challenge
            token = self.refresh_proof(challenge, **dict(overrides)) if challenge else None
            r = self.dbsc_post(self.refresh_url, proof=token, session_id=self.session_identifier)
            seen.append(r)
            if r.status == 403:
                # The 403's own challenge header (already absorbed) must name our session.
                if self._cache_challenge(r) is None:
                    self._end("invalid_challenge")
                elif retries >= max_challenges:
                    self._end("too_many_challenges")
                else:
                    retries += 1
                    continue
            elif 200 <= r.status < 300:
                self._refreshed(r)
            elif r.status < 500 and r.status != 407:
                self._end("persistent_http_error")
            return seen

    def _refreshed(self, r: Response) -> None:
        if not r.body.strip():
            return  # empty body: no config change
        try:
            parsed = r.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("continue") is False:
            self._end("continue_false")
            return
        found = _config(r)
        if found is None:
            self._end("invalid_config")
            return
        config, name = found
        if config["session_identifier"] != self.session_identifier:
            self._end("mismatched_session_id")
            return
        assert self.refresh_url is not None
        self._apply_config(config, name, default_refresh=self.refresh_url)
        # A new config drops the cached challenge; one sent along with it is cached again.
        self.cached_challenge = None
        self._cache_challenge(r)

    def steal(self, *names: str) -> DbscBrowser:
        """A second client (the thief of S1/S2) with a copy of these cookies (all when none
        are named), the same connection settings, and no DBSC key or session."""
        return DbscBrowser(
            self.base_url,
            origin=self.origin,
            extra_headers=self.extra_headers,
            quoted=self.quoted,
            jar=self.jar.copy(*names),
            ssl_context=self.ssl_context,
        )
