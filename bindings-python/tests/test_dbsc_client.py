"""The scripted DBSC client (tests/dbsc_client.py) tested on its own, before any server exists:
every proof checked by an independent verifier (``cryptography``'s ``verify`` over the DER form
of r‖s), every hostile variant decoded and compared with the good proof, the two header parsers
on the exact strings of docs/dbsc.md and on junk, and DbscBrowser against a small fake server in
this file that answers like docs/dbsc.md §1.3/§1.6 and records what it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import dbsc_client as dc

B64U = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# ---------------------------------------------------------------------------------------------
# an independent verifier: JWK -> public key by the numbers, r‖s -> DER, cryptography's verify


def key_from_jwk(j: dict[str, Any]) -> dc.PublicKey:
    def num(name: str) -> int:
        return int.from_bytes(dc.b64u_decode(j[name]), "big")

    if j["kty"] == "EC":
        curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[j["crv"]]
        return ec.EllipticCurvePublicNumbers(num("x"), num("y"), curve).public_key()
    assert j["kty"] == "RSA"
    return rsa.RSAPublicNumbers(num("e"), num("n")).public_key()


def verify(token: str, public: dc.PublicKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS the way a server would (raw r‖s for EC), return header, payload."""
    h, p, s = token.split(".")
    sig = dc.b64u_decode(s)
    data = f"{h}.{p}".encode("ascii")
    if isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        assert len(sig) == 2 * size, "EC signatures are raw r‖s"
        r, s_ = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        public.verify(encode_dss_signature(r, s_), data, ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    return json.loads(dc.b64u_decode(h)), json.loads(dc.b64u_decode(p))


def raw_payload(token: str) -> str:
    return dc.b64u_decode(token.split(".")[1]).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    """Key generation (RSA especially) is slow: one set for the module."""
    return {
        "ES256": dc.generate("ES256"),
        "RS256": dc.generate("RS256"),
        "ES256b": dc.generate("ES256"),
        "rsa1024": dc.rsa_1024(),
        "p384": dc.p384(),
    }


# ---------------------------------------------------------------------------------------------
# keys and proofs


def test_keys_have_the_requested_types_and_sizes(keys: dict[str, Any]) -> None:
    assert isinstance(keys["ES256"], ec.EllipticCurvePrivateKey)
    assert keys["ES256"].curve.name == "secp256r1"
    assert isinstance(keys["RS256"], rsa.RSAPrivateKey) and keys["RS256"].key_size == 2048
    assert keys["rsa1024"].key_size == 1024
    assert keys["p384"].curve.name == "secp384r1"
    with pytest.raises(ValueError):
        dc.generate("none")


def test_jwk_members_are_public_unpadded_and_round_trip(keys: dict[str, Any]) -> None:
    for name, size in (("ES256", 32), ("p384", 48)):
        pub = keys[name].public_key()
        j = dc.jwk(pub)
        assert set(j) == {"kty", "crv", "x", "y"} and j["kty"] == "EC"
        assert j["crv"] == {"ES256": "P-256", "p384": "P-384"}[name]
        assert len(dc.b64u_decode(j["x"])) == size and len(dc.b64u_decode(j["y"])) == size
        assert key_from_jwk(j).public_numbers() == pub.public_numbers()
    for name, size in (("RS256", 256), ("rsa1024", 128)):
        pub = keys[name].public_key()
        j = dc.jwk(pub)
        assert j == {"kty": "RSA", "n": j["n"], "e": "AQAB"}
        assert len(dc.b64u_decode(j["n"])) == size
        assert key_from_jwk(j).public_numbers() == pub.public_numbers()
    for j in (dc.jwk(keys["ES256"].public_key()), dc.jwk(keys["RS256"].public_key())):
        assert all(set(v) <= B64U for k, v in j.items() if k not in ("kty", "crv"))


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_registration_proof_verifies_with_the_jwk_in_its_header(
    keys: dict[str, Any], alg: str
) -> None:
    key = keys[alg]
    token = dc.proof(key, "C0", registration=True)
    parts = token.split(".")
    assert len(parts) == 3 and all(set(p) <= B64U and p for p in parts)
    header, payload, sig = dc.decode(token)
    assert header == {"alg": alg, "typ": "dbsc+jwt", "jwk": dc.jwk(key.public_key())}
    assert list(header) == ["alg", "typ", "jwk"]
    assert payload == {"jti": "C0"}
    assert len(sig) == {"ES256": 64, "RS256": 256}[alg]
    assert verify(token, key_from_jwk(header["jwk"])) == (header, payload)


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_refresh_proof_has_no_jwk_and_verifies_with_the_key(keys: dict[str, Any], alg: str) -> None:
    token = dc.proof(keys[alg], "C1", registration=False)
    assert verify(token, keys[alg].public_key()) == ({"alg": alg, "typ": "dbsc+jwt"}, {"jti": "C1"})
    # Another key's signature does not verify: the verifier is not a rubber stamp.
    other = dc.proof(keys["ES256b"], "C1", registration=False)
    with pytest.raises(InvalidSignature):
        verify(other, keys["ES256"].public_key())


def test_wrong_typ_changes_only_typ(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["ES256"], "C0", registration=True, typ="jwt")
    header, payload = verify(token, keys["ES256"].public_key())
    assert header == {"alg": "ES256", "typ": "jwt", "jwk": dc.jwk(keys["ES256"].public_key())}
    assert payload == {"jti": "C0"}


def test_alg_none_has_an_empty_signature_and_no_jwk(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["ES256"], "C0", registration=True, alg="none")
    assert token.endswith(".") and token.count(".") == 2
    assert dc.decode(token) == ({"alg": "none", "typ": "dbsc+jwt"}, {"jti": "C0"}, b"")
    assert dc.proof(None, "C0", registration=True, alg="none") == token


def test_es256_header_over_an_rsa_key_and_signature(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["RS256"], "C0", registration=True, alg="ES256")
    header, _, sig = dc.decode(token)
    assert header["alg"] == "ES256" and header["jwk"]["kty"] == "RSA"
    assert len(sig) == 256
    # The signature is RSA PKCS#1 v1.5 by that key.
    h, p, _ = token.split(".")
    keys["RS256"].public_key().verify(sig, f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_rs256_header_over_an_ec_signature(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["ES256"], "C1", registration=False, alg="RS256")
    header, _, sig = dc.decode(token)
    assert header == {"alg": "RS256", "typ": "dbsc+jwt"} and len(sig) == 64
    verify(token, keys["ES256"].public_key())


def test_der_signature_is_der_and_verifies_only_as_der(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["ES256"], "C0", registration=True, der_signature=True)
    h, p, s = token.split(".")
    sig = dc.b64u_decode(s)
    assert sig[0] == 0x30 and 70 <= len(sig) <= 72 and sig[1] == len(sig) - 2
    keys["ES256"].public_key().verify(sig, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(AssertionError, match="raw"):
        verify(token, keys["ES256"].public_key())


def test_flipped_bit_differs_in_exactly_one_bit(keys: dict[str, Any]) -> None:
    # RS256 is deterministic: the good and the bad proof can be compared bit for bit.
    good = dc.proof(keys["RS256"], "C0", registration=True)
    bad = dc.proof(keys["RS256"], "C0", registration=True, flip_bit=77)
    g, b = dc.decode(good)[2], dc.decode(bad)[2]
    assert good.rsplit(".", 1)[0] == bad.rsplit(".", 1)[0]
    diff = [i for i in range(len(g) * 8) if (g[i // 8] ^ b[i // 8]) & (0x80 >> (i % 8))]
    assert diff == [77]
    with pytest.raises(InvalidSignature):
        verify(bad, keys["RS256"].public_key())
    # ES256 signatures are randomised: flip the bit back and the signature verifies.
    bad_ec = dc.proof(keys["ES256"], "C0", registration=True, flip_bit=0)
    with pytest.raises(InvalidSignature):
        verify(bad_ec, keys["ES256"].public_key())
    h, p, s = bad_ec.split(".")
    restored = bytearray(dc.b64u_decode(s))
    restored[0] ^= 0x80
    verify(f"{h}.{p}.{dc.b64u(bytes(restored))}", keys["ES256"].public_key())


def test_private_d_in_the_jwk(keys: dict[str, Any]) -> None:
    for name in ("ES256", "RS256"):
        j = dc.jwk_with_private_d(keys[name])
        public = dc.jwk(keys[name].public_key())
        assert {k: v for k, v in j.items() if k != "d"} == public
        d = int.from_bytes(dc.b64u_decode(j["d"]), "big")
        numbers = keys[name].private_numbers()
        assert d == (numbers.private_value if name == "ES256" else numbers.d)
        token = dc.proof(keys[name], "C0", registration=True, jwk=j)
        header, _ = verify(token, keys[name].public_key())
        assert header["jwk"] == j


def test_p384_jwk_with_es256(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["p384"], "C0", registration=True)
    header, _, sig = dc.decode(token)
    assert header["alg"] == "ES256" and header["jwk"]["crv"] == "P-384"
    assert len(sig) == 96
    verify(token, key_from_jwk(header["jwk"]))


def test_off_curve_jwk_is_off_the_curve(keys: dict[str, Any]) -> None:
    j = dc.jwk_off_curve(keys["ES256"])
    good = dc.jwk(keys["ES256"].public_key())
    assert j["x"] == good["x"] and j["y"] != good["y"] and len(dc.b64u_decode(j["y"])) == 32
    with pytest.raises(ValueError):
        key_from_jwk(j)
    header, _, _ = dc.decode(dc.proof(keys["ES256"], "C0", registration=True, jwk=j))
    assert header["jwk"] == j


def test_crit_header_and_extra_claims(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["ES256"], "C0", registration=True, header_extra={"crit": ["exp"]})
    header, payload = verify(token, keys["ES256"].public_key())
    assert header["crit"] == ["exp"] and payload == {"jti": "C0"}
    token = dc.proof(
        keys["ES256"], "C1", registration=False, claims={"aud": "https://a.example", "iat": 17}
    )
    header, payload = verify(token, keys["ES256"].public_key())
    assert header == {"alg": "ES256", "typ": "dbsc+jwt"}
    assert payload == {"jti": "C1", "aud": "https://a.example", "iat": 17}


def test_padded_header_has_padding_only_there(keys: dict[str, Any]) -> None:
    for key in (keys["ES256"], keys["RS256"], keys["p384"]):
        for registration in (True, False):
            token = dc.proof(key, "C0", registration=registration, padded_header=True)
            h, p, s = token.split(".")
            assert h.endswith("=") and "=" not in p + s
            header, payload = verify(token, key.public_key())
            assert header["typ"] == "dbsc+jwt" and payload == {"jti": "C0"}


def test_duplicate_jti_is_in_the_payload_text(keys: dict[str, Any]) -> None:
    token = dc.proof(keys["ES256"], "C0", registration=True, duplicate_jti="other")
    assert raw_payload(token) == '{"jti":"C0","jti":"other"}'
    verify(token, keys["ES256"].public_key())
    token = dc.proof(keys["ES256"], "C0", registration=True, duplicate_jti="C0", claims={"iat": 1})
    assert raw_payload(token) == '{"jti":"C0","jti":"C0","iat":1}'


def test_jwk_in_a_refresh_header(keys: dict[str, Any]) -> None:
    other = dc.jwk(keys["ES256b"].public_key())
    token = dc.proof(keys["ES256b"], "C1", registration=False, jwk=other)
    header, _ = verify(token, keys["ES256b"].public_key())
    assert header == {"alg": "ES256", "typ": "dbsc+jwt", "jwk": other}
    with pytest.raises(InvalidSignature):
        verify(token, keys["ES256"].public_key())
    # and no jwk at all on a registration proof
    assert "jwk" not in dc.decode(dc.proof(keys["ES256"], "C0", registration=True, jwk=None))[0]


# ---------------------------------------------------------------------------------------------
# header parsers


def test_parse_registration_the_documented_offer() -> None:
    value = '(ES256 RS256);path="/_tessera/dbsc/register";challenge="cv"'
    assert dc.parse_registration(value) == [
        dc.Offer(("ES256", "RS256"), "/_tessera/dbsc/register", "cv")
    ]


def test_parse_registration_several_entries_escapes_and_spacing() -> None:
    value = (
        ' ( ES256 );path="/a";challenge="x\\"y\\\\z" ,\t(RS256  ES256 );'
        ' challenge="c2"; path="https://app.example/reg";authorization="tok";provider_key="k" '
    )
    assert dc.parse_registration(value) == [
        dc.Offer(("ES256",), "/a", 'x"y\\z'),
        dc.Offer(("RS256", "ES256"), "https://app.example/reg", "c2", "tok"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        'ES256;path="/r";challenge="c"',  # bare item, not an inner list
        '();path="/r";challenge="c"',  # no algorithm
        '(ES256 RS256);path="/r"',  # no challenge
        '(ES256);challenge="c"',  # no path
        '(ES256,RS256);path="/r";challenge="c"',
        '(ES256);path=/r;challenge="c"',  # unquoted value
        '(ES256);path="/r";challenge="c";path="/s"',  # duplicate parameter
        '(ES256);Path="/r";challenge="c"',  # keys are lower case
        '(ES256);path="/r";challenge="c",',  # trailing comma
        '(ES256);path="/r";challenge="c" (RS256);path="/r";challenge="d"',  # no comma
        '(ES256);path="/r";challenge="c\\n"',  # bad escape
        '(ES256);path="/r";challenge="c',  # unterminated
        '(ES256);path="/r";challenge="c\x01"',
        '(ES256);path="/r";challenge="é"',
        '(ES256;a="b");path="/r";challenge="c"',  # item parameters: not this shape
        '(1ES256);path="/r";challenge="c"',
        '(ES256);path="/r";challenge',  # boolean parameter
        '(ES256) ;path="/r";challenge="c"',  # no space before parameters
    ],
)
def test_parse_registration_refuses_junk(value: str) -> None:
    with pytest.raises(dc.HeaderError):
        dc.parse_registration(value)


def test_parse_challenge_documented_and_several() -> None:
    assert dc.parse_challenge('"C1";id="BID"') == [("C1", "BID")]
    assert dc.parse_challenge('"a\\"b";id="X", "c";id="Y",\t"d";id="Z"') == [
        ('a"b', "X"),
        ("c", "Y"),
        ("d", "Z"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "",
        '"C1"',
        'C1;id="BID"',
        '"C1";id=BID',
        '"C1";id="BID",',
        '"C1";id="BID" "C2";id="B"',
        '"C1";id="BID";id="X"',
        '("C1");id="BID"',
        '"C1\\x";id="BID"',
        '"C1" ;id="BID"',
    ],
)
def test_parse_challenge_refuses_junk(value: str) -> None:
    with pytest.raises(dc.HeaderError):
        dc.parse_challenge(value)


# ---------------------------------------------------------------------------------------------
# the cookie jar


def test_jar_replaces_deletes_and_copies() -> None:
    jar = dc.CookieJar()
    jar.absorb("a=1; Path=/; Secure; HttpOnly; SameSite=Lax")
    jar.absorb("b=2; Max-Age=600; Path=/")
    assert jar.header() == "a=1; b=2"
    assert jar.attributes["b"]["max-age"] == "600" and "httponly" in jar.attributes["a"]
    jar.absorb("a=3; Path=/")
    assert jar.cookies == {"a": "3", "b": "2"}
    jar.absorb("b=; Max-Age=0; Path=/")
    assert jar.cookies == {"a": "3"}
    jar.absorb("a=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert jar.cookies == {} and jar.header() is None
    jar.absorb("a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT")
    jar.absorb("c=2")
    stolen = jar.copy("a", "missing")
    assert stolen.cookies == {"a": "1"}
    stolen.cookies["a"] = "changed"
    assert jar.cookies == {"a": "1", "c": "2"} and jar.copy().cookies == jar.cookies
    with pytest.raises(ValueError):
        jar.absorb("novalue")


# ---------------------------------------------------------------------------------------------
# DbscBrowser against a fake DBSC server (test-only; answers like docs/dbsc.md §1.3, §1.6)

SESSION = "__Host-session"
BOUND = "__Host-session-bound"
ATTRS = "Path=/; Secure; HttpOnly; SameSite=Lax"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    cookie_lines: list[str]
    body: bytes
    #: what the fake made of the proof: (header, payload) if it verified, else the error text
    proof: Any = None


@dataclass
class Fake:
    """The server's state and its scripted behaviour (set by each test)."""

    offer_algs: str = "ES256 RS256"
    bid: str = "BID"
    challenge_id: Optional[str] = None  # id put on challenges (default: bid)
    always_403: bool = False  # refresh: never accept (the 5-challenge limit)
    repeat_challenge: bool = False  # refresh: the same challenge again after a good proof
    end_session: bool = False  # refresh: answer continue:false
    piggyback: bool = False  # refresh 200 carries the next challenge
    register_answer: str = "ok"  # "ok" | "no_cookie" (200 without Set-Cookie) | "junk" body
    refresh_status: Optional[int] = None  # answer every refresh with this status
    refresh_body: Optional[bytes] = None  # body of the 200 after a good proof (default config)
    received: list[Received] = field(default_factory=list)
    key: Optional[dc.PublicKey] = None
    challenge: str = "C0"
    issued: int = 0
    cookies_minted: int = 0

    def config(self) -> dict[str, Any]:
        return {
            "session_identifier": self.bid,
            "refresh_url": "/_tessera/dbsc/refresh",
            "scope": {
                "origin": "https://app.example",
                "include_site": False,
                "scope_specification": [],
            },
            "credentials": [{"type": "cookie", "name": BOUND, "attributes": ATTRS}],
            "allowed_refresh_initiators": [],
        }

    def new_challenge(self) -> tuple[str, str]:
        if not (self.repeat_challenge and self.issued):
            self.issued += 1
            self.challenge = f"C{self.issued}"
        return (CHALLENGE_HDR, f'"{self.challenge}";id="{self.challenge_id or self.bid}"')

    def bound_cookie(self) -> tuple[str, str]:
        self.cookies_minted += 1
        return ("Set-Cookie", f"{BOUND}=B{self.cookies_minted}; Max-Age=600; {ATTRS}")

    def answer(self, r: Received) -> tuple[int, list[tuple[str, str]], bytes]:
        def unquote(v: Optional[str]) -> Optional[str]:
            return v[1:-1] if v and v.startswith('"') and v.endswith('"') else v

        token = unquote(r.headers.get("secure-session-response"))
        if (r.method, r.path) == ("GET", "/login"):
            offer = f'({self.offer_algs});path="/_tessera/dbsc/register";challenge="C0"'
            return 200, [("Set-Cookie", f"{SESSION}=T1; {ATTRS}"), (REG_HDR, offer)], b"in"
        if (r.method, r.path) == ("POST", "/login"):
            return 200, [], r.body + b" " + r.headers["content-type"].encode()
        if (r.method, r.path) == ("GET", "/account"):
            return 200, [], json.dumps(r.cookie_lines).encode()
        if (r.method, r.path) == ("POST", "/logout"):
            return (
                200,
                [
                    ("Set-Cookie", f"{SESSION}=; Max-Age=0; {ATTRS}"),
                    ("Set-Cookie", f"{BOUND}=; Max-Age=0; {ATTRS}"),
                ],
                b"",
            )
        if (r.method, r.path) == ("POST", "/_tessera/dbsc/register"):
            if token is None:
                return 400, [], b""
            try:
                header = json.loads(dc.b64u_decode(token.split(".")[0]))
                r.proof = verify(token, key_from_jwk(header["jwk"]))
            except Exception as e:  # recorded for the test to assert on
                r.proof = repr(e)
                return 403, [], b'{"error":"bad_signature"}'
            if r.proof[1]["jti"] != "C0" or r.cookie_lines != [f"{SESSION}=T1"]:
                return 403, [], b'{"error":"unknown_challenge"}'
            self.key = key_from_jwk(header["jwk"])
            if self.register_answer == "junk":
                return 200, [self.bound_cookie()], b"<html>"
            hdrs = [("Content-Type", "application/json")]
            if self.register_answer != "no_cookie":
                hdrs.append(self.bound_cookie())
            return 200, hdrs, json.dumps(self.config()).encode()
        if (r.method, r.path) == ("POST", "/_tessera/dbsc/refresh"):
            if self.refresh_status is not None:
                return self.refresh_status, [], b""
            if unquote(r.headers.get("sec-secure-session-id")) != self.bid:
                return 200, [], json.dumps({"session_identifier": "x", "continue": False}).encode()
            if token is not None and self.key is not None and not self.always_403:
                try:
                    r.proof = verify(token, self.key)
                except Exception as e:
                    r.proof = repr(e)
                if isinstance(r.proof, tuple) and r.proof[1]["jti"] == self.challenge:
                    if self.end_session:
                        body = {"session_identifier": self.bid, "continue": False}
                        return 200, [], json.dumps(body).encode()
                    hdrs = [self.bound_cookie()]
                    if self.piggyback:
                        hdrs.append(self.new_challenge())
                    if self.refresh_body is not None:
                        return 200, hdrs, self.refresh_body
                    return 200, hdrs, json.dumps(self.config()).encode()
            return 403, [self.new_challenge()], b""
        return 404, [], b""


REG_HDR = "Secure-Session-Registration"
CHALLENGE_HDR = "Secure-Session-Challenge"


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            r = Received(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                self.headers.get_all("Cookie") or [],
                self.rfile.read(length),
            )
            state.received.append(r)
            status, headers, body = state.answer(r)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = handle_any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll only makes shutdown() return sooner; nothing waits on it for ordering.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def signed_in(base: str, **kw: Any) -> dc.DbscBrowser:
    b = dc.DbscBrowser(base, origin="https://app.example", **kw)
    assert b.get("/login").status == 200
    return b


@pytest.mark.parametrize("algs,alg", [("ES256 RS256", "ES256"), ("RS256 ES256", "RS256")])
def test_register_then_refresh_over_http(fake: tuple[Fake, str], algs: str, alg: str) -> None:
    state, base = fake
    state.offer_algs = algs
    b = signed_in(base, extra_headers={"X-Forwarded-Proto": "https"})
    assert b.offers == [dc.Offer(tuple(algs.split()), "/_tessera/dbsc/register", "C0")]
    assert b.jar.cookies == {SESSION: "T1"}

    r = b.register()
    assert r.status == 200, r.body
    reg = state.received[-1]
    assert (reg.method, reg.path, reg.body) == ("POST", "/_tessera/dbsc/register", b"")
    assert reg.headers["content-length"] == "0"
    assert reg.cookie_lines == [f"{SESSION}=T1"]
    assert reg.headers["origin"] == "https://app.example"
    assert reg.headers["sec-fetch-site"] == "same-origin"
    assert reg.headers["sec-fetch-mode"] == "no-cors"
    assert reg.headers["sec-fetch-dest"] == "empty"
    assert reg.headers["x-forwarded-proto"] == "https"
    assert "sec-secure-session-id" not in reg.headers and "authorization" not in reg.headers
    assert not reg.headers["secure-session-response"].startswith('"')  # bare, as Chrome sends
    header, payload = reg.proof
    assert header["alg"] == alg and payload == {"jti": "C0"}
    assert b.key is not None and header["jwk"] == dc.jwk(b.key.public_key())
    assert (b.session_identifier, b.refresh_url, b.bound_cookie, b.alg) == (
        "BID",
        "/_tessera/dbsc/refresh",
        BOUND,
        alg,
    )
    assert b.jar.cookies == {SESSION: "T1", BOUND: "B1"}
    assert b.jar.attributes[BOUND]["max-age"] == "600"

    seen = b.refresh()
    assert [x.status for x in seen] == [403, 200]
    first, second = state.received[-2:]
    assert first.headers["sec-secure-session-id"] == "BID"
    assert "secure-session-response" not in first.headers
    assert first.cookie_lines == [f"{SESSION}=T1; {BOUND}=B1"]
    assert second.headers["sec-secure-session-id"] == "BID"
    # verified by the fake with the key registered, not one in the header; jti = the challenge
    assert second.proof == ({"alg": alg, "typ": "dbsc+jwt"}, {"jti": "C1"})
    assert b.jar.cookies == {SESSION: "T1", BOUND: "B2"}
    # a new config drops the cached challenge (docs/dbsc.md §2.6 step 5)
    assert b.ended is None and b.cached_challenge is None

    seen = b.refresh()
    assert [x.status for x in seen] == [403, 200]
    assert "secure-session-response" not in state.received[-2].headers
    assert state.received[-1].proof == ({"alg": alg, "typ": "dbsc+jwt"}, {"jti": "C2"})
    assert b.jar.cookies[BOUND] == "B3"


def test_quoted_headers_option(fake: tuple[Fake, str]) -> None:
    state, base = fake
    b = signed_in(base, quoted=True)
    assert b.register().status == 200
    value = state.received[-1].headers["secure-session-response"]
    assert value.startswith('"') and value.endswith('"') and value.count('"') == 2
    assert [x.status for x in b.refresh()] == [403, 200]
    assert state.received[-1].headers["sec-secure-session-id"] == '"BID"'


def test_piggybacked_challenge_is_cached_and_used_first(fake: tuple[Fake, str]) -> None:
    state, base = fake
    state.piggyback = True
    b = signed_in(base)
    b.register()
    assert [x.status for x in b.refresh()] == [403, 200]
    assert b.cached_challenge == "C2"
    assert [x.status for x in b.refresh()] == [200]
    assert state.received[-1].proof[1] == {"jti": "C2"}


def test_same_challenge_again_resends_the_identical_proof(fake: tuple[Fake, str]) -> None:
    state, base = fake
    state.repeat_challenge = True
    b = signed_in(base)
    b.register()  # ES256: signatures are randomised, so equal proofs mean a cached proof
    b.refresh()
    b.refresh()
    proofs = [x.headers.get("secure-session-response") for x in state.received[-4:]]
    assert proofs[0] is None and proofs[2] is None
    assert proofs[1] is not None and proofs[1] == proofs[3]


def test_refresh_gives_up_after_five_challenges(fake: tuple[Fake, str]) -> None:
    state, base = fake
    state.always_403 = True
    b = signed_in(base)
    b.register()
    seen = b.refresh()
    assert [x.status for x in seen] == [403] * 6
    jtis = [x.proof for x in state.received[-6:]]
    assert jtis == [None] * 6  # always_403: the fake never verifies, it only counts
    sent = [dc.decode(x.headers["secure-session-response"])[1]["jti"] for x in state.received[-5:]]
    assert sent == ["C1", "C2", "C3", "C4", "C5"]
    assert b.ended == "too_many_challenges" and b.key is None
    with pytest.raises(ValueError):
        b.refresh()


def test_continue_false_and_foreign_challenges_end_the_session(fake: tuple[Fake, str]) -> None:
    state, base = fake
    state.end_session = True
    b = signed_in(base)
    b.register()
    assert [x.status for x in b.refresh()] == [403, 200]
    assert b.ended == "continue_false" and b.key is None
    assert b.jar.cookies == {SESSION: "T1", BOUND: "B1"}  # cookies stay as the server left them

    state.end_session, state.challenge_id = False, "OTHER"
    b = signed_in(base)
    b.register()
    assert [x.status for x in b.refresh()] == [403]
    assert b.ended == "invalid_challenge"


def test_refresh_with_overrides_and_raw_dbsc_posts(
    fake: tuple[Fake, str], keys: dict[str, Any]
) -> None:
    state, base = fake
    b = signed_in(base)
    b.register(key=keys["ES256"])
    seen = b.refresh(key=keys["ES256b"])  # F4: another key -> the fake never accepts it
    assert [x.status for x in seen] == [403] * 6
    assert all("InvalidSignature" in x.proof for x in state.received[-5:])
    # F1 / F2 / R1 shapes: a DBSC POST with exactly the headers asked for
    r = b.dbsc_post("/_tessera/dbsc/refresh", proof=None)
    assert "sec-secure-session-id" not in state.received[-1].headers and r.status == 200
    b.dbsc_post("/_tessera/dbsc/refresh", proof=None, session_id="wrongid")
    assert state.received[-1].headers["sec-secure-session-id"] == "wrongid"
    assert b.dbsc_post("/_tessera/dbsc/register", proof=None).status == 400


def test_hostile_registration_is_sent_as_built(
    fake: tuple[Fake, str], keys: dict[str, Any]
) -> None:
    state, base = fake
    b = signed_in(base)
    r = b.register(key=keys["ES256"], flip_bit=3)
    assert r.status == 403 and "InvalidSignature" in state.received[-1].proof
    assert b.key is None and b.session_identifier is None
    token = dc.proof(keys["ES256"], "C0", registration=True, typ="jwt")
    b.register(proof_token=token)
    assert state.received[-1].headers["secure-session-response"] == token


def test_thieves_hold_copies_of_the_jar(fake: tuple[Fake, str]) -> None:
    state, base = fake
    b = signed_in(base)
    b.register()
    s1 = b.steal(SESSION)  # S1: only the long-lived cookie
    s2 = b.steal()  # S2: both
    assert json.loads(s1.get("/account").body) == [f"{SESSION}=T1"]
    assert json.loads(s2.get("/account").body) == [f"{SESSION}=T1; {BOUND}=B1"]
    assert s1.key is None and s2.session_identifier is None
    with pytest.raises(ValueError):
        s2.refresh()
    # the owner's later cookies do not reach the thief, and the thief's edits not the owner
    b.refresh()
    s2.jar.cookies[BOUND] = "forged"
    assert b.jar.cookies[BOUND] == "B2" and s2.jar.cookies[BOUND] == "forged"
    # an explicit Cookie header is sent verbatim (S4's duplicate cookie)
    s2.get("/account", headers={"Cookie": f"{SESSION}=T1; {BOUND}=B1; {BOUND}=B1"})
    assert state.received[-1].cookie_lines == [f"{SESSION}=T1; {BOUND}=B1; {BOUND}=B1"]
    # Max-Age=0 from the server deletes both
    b.post("/logout")
    assert b.jar.cookies == {}
    assert b.get("/account").body == b"[]"


def test_registration_chrome_would_not_store(fake: tuple[Fake, str]) -> None:
    state, base = fake
    for answer, why in (("no_cookie", "bound_cookie_not_set"), ("junk", "invalid_config")):
        state.register_answer = answer
        b = signed_in(base)
        assert b.register().status == 200
        assert (b.ended, b.key, b.session_identifier) == (why, None, None)
        with pytest.raises(ValueError):
            b.refresh()


@pytest.mark.parametrize(
    "status,body,ended,bound",
    [
        (401, None, "persistent_http_error", "B1"),
        (302, None, "persistent_http_error", "B1"),
        (500, None, None, "B1"),  # transient: the session stays
        (503, None, None, "B1"),
        (None, b"", None, "B2"),  # empty body: refreshed, config unchanged
        (None, b"not json", "invalid_config", "B2"),
        (None, b'{"session_identifier":"BID"}', "invalid_config", "B2"),
        (
            None,
            json.dumps({**Fake().config(), "session_identifier": "NEW"}).encode(),
            "mismatched_session_id",
            "B2",
        ),
    ],
)
def test_refresh_answers_as_chrome_reads_them(
    fake: tuple[Fake, str],
    status: Optional[int],
    body: Optional[bytes],
    ended: Optional[str],
    bound: str,
) -> None:
    state, base = fake
    b = signed_in(base)
    b.register()
    config = b.config
    state.refresh_status, state.refresh_body = status, body
    seen = b.refresh()
    assert [x.status for x in seen] == ([status] if status else [403, 200])
    assert b.ended == ended and b.jar.cookies[BOUND] == bound
    assert (b.key is None) == (ended is not None)
    if ended is None:
        assert b.config == config and b.session_identifier == "BID"


def test_form_and_json_bodies(fake: tuple[Fake, str]) -> None:
    _, base = fake
    b = dc.DbscBrowser(base)
    r = b.post("/login", form={"user": "alice", "password": "a b"})
    assert r.body == b"user=alice&password=a+b application/x-www-form-urlencoded"
    assert b.post("/login", json_body={"u": 1}).body == b'{"u": 1} application/json'
