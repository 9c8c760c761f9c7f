#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/ (committed; rerun after editing this file).

Each seed is small and means something: valid tokens and near misses, Cookie headers with
duplicates, quotes and odd spacing, JSON objects at and just over the data cap, and C-ABI
programs that walk a session's life. The input formats are described in fuzz/README.md.
"""

import base64
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ZERO = b64(bytes(32))  # "AAAA...A"
COUNTING = b64(bytes(range(32)))  # a token whose last character is canonical
LAST = b64(bytes([0xFF] * 32))  # "____...8"

TOKENS = {
    "zero": ZERO,
    "counting": COUNTING,
    "all_ones": LAST,
    "short_42": COUNTING[:42],
    "long_44": COUNTING + "A",
    "non_canonical_last": COUNTING[:42] + "B",
    "standard_alphabet": "+/" + COUNTING[2:],
    "padded": COUNTING[:42] + "=",
    "space_inside": COUNTING[:20] + " " + COUNTING[21:],
    "empty": "",
    "unicode": "é" * 21 + "A",  # 43 bytes, not the alphabet
}
TOKEN_BYTES = {
    "nul_inside": ZERO[:21].encode() + b"\0" + ZERO[22:].encode(),
    "latin1_high": b"\xff" * 43,
}

NAME = "__Host-session"
COOKIES = {
    "one_of_three": f"theme=dark; {NAME}={COUNTING}; lang=en",
    "alone": f"{NAME}={ZERO}",
    "duplicate": f"{NAME}={ZERO}; {NAME}={COUNTING}",
    "duplicate_empty_first": f"{NAME}=; {NAME}={COUNTING}",
    "quoted": f'{NAME}="{COUNTING}"',
    "lone_quote": f'{NAME}="',
    "odd_spacing": f" \t{NAME} \t= \t{COUNTING} \t;;  ; a=b",
    "no_value": f"{NAME}; a=1",
    "prefix_and_case": f"x{NAME}=1; {NAME.lower()}=2; {NAME}x=3",
    "equals_in_value": f"{NAME}=a=b=c",
    "unicode": f"é=ü; {NAME}=ö; ✓=1",
    "named_sid": "sid\nsid=1; SID=2; sidx=3",
    "named_sid_tossed": "sid\nsid=good;sid=tossed",
    "named_with_space": " sid\n sid=1",
    "empty_name": "\n=1; =2",
}

# session_data: one byte for the cap (2 + 4 * byte), then NUL-separated segments.
def data_seed(cap_byte: int, *segments: str) -> bytes:
    return bytes([cap_byte]) + "\0".join(segments).encode()


def exact(size: int) -> str:
    """A one-key object whose compact JSON is exactly `size` bytes ({"k":"..."} is 8 + n)."""
    return json.dumps({"k": "x" * (size - 8)}, separators=(",", ":"))


DATA = {
    # cap 2 + 4*5 = 22 bytes
    "replace_at_cap": data_seed(5, "r" + exact(22)),
    "replace_over_cap": data_seed(5, "r" + exact(22), "r" + exact(23)),
    "set_grows_past_cap": data_seed(5, 's{"a":1}', 's{"b":"123456"}', 's{"c":3}'),
    "create_over_cap": data_seed(5, "c" + exact(23), "c" + exact(22), 's{"k":1}'),
    "patch_sets_and_removes": data_seed(
        64, 's{"a":1,"b":2,"c":3}', 'p{"a":null,"d":[true,false]}', 'd{"b":0}'
    ),
    "empty_keys": data_seed(64, 's{"":1}', 'p{"":1}', 'r{"":1,"a":2}', 'p{"a":1,"":null}', 'c{"":1}'),
    "nested_values": data_seed(
        255, 's{"user":{"id":7,"roles":["admin"],"prefs":{"theme":"dark"}},"n":-0.5e-3}'
    ),
    "unicode_and_escapes": data_seed(255, 's{"é":"\\u00e9\\ud83d\\ude00","\\u0000":"\\n"}'),
    "not_objects": data_seed(64, "[1]", '"text"', "null", "{", '{"a":}', "{}", "r{}"),
    "duplicate_keys": data_seed(64, 's{"a":1,"a":2}', 'r{"b":1,"b":{"c":2}}'),
    "big_numbers": data_seed(64, 's{"a":1e400}', 's{"b":18446744073709551616}', 's{"c":-9223372036854775809}'),
    "deep_nesting": data_seed(255, "s{\"a\":" + "[" * 200 + "]" * 200 + "}"),
    "remove_all_then_set": data_seed(16, 's{"a":1}', 'd{"a":0}', "d{}", 's{"b":"c"}'),
}


# c_abi: options NUL clock NUL (op NUL args...)*; "\xff" alone is NULL; $D/#D/%D substitute.
def program(*fields) -> bytes:
    out = []
    for f in fields:
        out.append(f if isinstance(f, bytes) else f.encode())
    return b"\0".join(out)


NULL = b"\xff"
T0 = "1700000000000"
FULL_OPTIONS = json.dumps(
    {
        "idle_timeout_ms": 1000,
        "absolute_timeout_ms": 5000,
        "rotation_interval_ms": 100,
        "rotation_grace_ms": 10,
        "max_sessions_per_user": 2,
        "max_data_bytes": 64,
        "login_keeps_data": True,
        "pepper": "0123456789abcdef!",
        "cookie_name": "sid",
        "cookie_secure": False,
        "cookie_http_only": True,
        "cookie_same_site": "strict",
        "cookie_path": "/app",
        "cookie_domain": "example.com",
        "cookie_max_age_ms": 60000,
        "sweep_interval_ms": None,
        "store": "memory://?shards=2",
    }
)

C_ABI = {
    # sessions built in caller storage with each set of fields, and the refusals: NULL storage,
    # an unknown bit, a malformed token, then reads and a free of a narrow session
    "caller_storage": program(
        NULL, T0,
        "c", "alice", '{"cart":[1,2]}', "1", "Mozilla/5.0",
        "w", "$0", "1", "7",
        "w", "$0", "1", "0",
        "w", "$0", "1", "1",
        "w", "$0", "1", "2",
        "wb", "$0", "1", "7",
        "w", "$0", "1", "8",
        "w", "not-a-token", "1", "7",
        "wn", "$0", "1", "7",
        "q", "1", "cart", "%0", "65",
        "f", "1",
        "v", "$0", "1", NULL,
    ),
    # a visitor's whole life with every default
    "lifecycle_defaults": program(
        NULL, T0,
        "A",
        "c", NULL, '{"cart":[1,2]}', "1", "Mozilla/5.0",
        "h", f"theme=dark; {NAME}=$0; lang=en", "44",
        "v", "$0", "1", NULL,
        "q", "0", "cart", "%0", "65",
        "C", "$0",
        "V", "$0", "%0",
        "d", "#0", "theme", '"dark"',
        "D", "#0", "cart",
        "R", "#0", '{"a":{"b":null}}',
        "l", "$0", "alice", "1", "Mozilla/5.0",
        "v", "$1", "1", NULL,
        "F", "",
        "S", "$0",
        "x",
        "L", "alice",
        "i", "$0", "65",
        "o", "$0",
        "v", "$0", "1", NULL,
        "n", "s",
    ),
    # every option, rotation, a grace window, idle expiry, eviction and revocation
    "every_option_and_expiry": program(
        FULL_OPTIONS, T0,
        "A",
        "c", NULL, NULL, "0", NULL,
        "l", "$0", "bob", "0", "curl/8",
        "l", NULL, "bob", "1", NULL,
        "l", NULL, "bob", "1", NULL,
        "+", "150",
        "v", "$0", "1", NULL,
        "v", "$1", "1", NULL,
        "r", "$0", "1", NULL,
        "+", "5",
        "v", "$1", "1", NULL,
        "+", "1001",
        "v", "$0", "1", NULL,
        "s",
        "L", "bob",
        "e", "bob", "$0",
        "u", "bob",
        "a",
        "=", "0",
        "n",
    ),
    # data writes around max_data_bytes (64)
    "data_at_the_cap": program(
        '{"max_data_bytes":32,"sweep_interval_ms":null}', T0,
        "c", "carol", '{"k":"0123456789012345678901"}', "1", NULL,
        "c", "carol", '{"k":"01234567890123456789012"}', "1", NULL,
        "d", "#0", "a", "1",
        "d", "#0", "", "1",
        "R", "#0", "[]",
        "R", "#0", "{}",
        "d", "#0", "k", '"' + "x" * 40 + '"',
        "d", "#0", "k", "not json",
        "k", "#0",
        "d", "#0", "k", "1",
        "q", "0", "k", NULL, "65",
    ),
    # NULL handles and out-parameters, non-UTF-8, short buffers
    "hostile_arguments": program(
        NULL, T0,
        "c", b"\xc3\x28", NULL, "1", NULL,
        "c", NULL, b'{"a":"\xe2\x82"}', "1", NULL,
        "cn", NULL, NULL, "1", NULL,
        "cz", NULL, NULL, "1", NULL,
        "c", "dave", NULL, "1", b"\xf0\x28\x8c\x28",
        "vn", "$0", "1", NULL,
        "v", NULL, "1", NULL,
        "v", b"\xff\xfe", "1", NULL,
        "i", "$0", "64",
        "i", "$0", "0",
        "h", f"{NAME}=$0", "43",
        "h", f"{NAME}=$0", "256",
        "qz", "0", "k", "c", "65",
        "qn", "0", "k", "c", "65",
        "q", "0", NULL, NULL, "10",
        "An",
        "+z", "1",
        "m", "-1", "m", "6", "m", "7", "m", "2147483647",
        "k", "ZZ",
        "k", "A" * 64,
        "f", "0", "f", "0",
    ),
    # cookie tossing and odd Cookie headers through the C ABI
    "cookie_headers": program(
        '{"cookie_name":"sid","cookie_secure":false,"sweep_interval_ms":null}', "",
        "c", NULL, NULL, "0", NULL,
        "h", "sid=$0", "44",
        "h", "sid=$0; sid=$0", "44",
        "h", 'sid="$0"', "44",
        "h", " sid = $0 ;", "44",
        "h", "sid=" + "x" * 100, "44",
        "h", "sid=" + "x" * 100, "200",
        "h", "", "44",
        "Sn", "$0",
        "S", "not a token",
    ),
    # options that are refused
    "bad_options": program('{"idle_timeout_ms":0}', T0, "c", NULL, NULL, "1", NULL, "v", "$0", "1", NULL),
    "options_not_json": program("{", ""),
    "options_unknown_name": program('{"idle_timout_ms":1}', ""),
    "options_wrong_types": program('{"cookie_secure":"yes","max_data_bytes":-1}', ""),
    "options_host_prefix_insecure": program('{"cookie_secure":false}', ""),
    "options_huge_values": program(
        '{"idle_timeout_ms":18446744073709551615,"absolute_timeout_ms":18446744073709551615,'
        '"rotation_interval_ms":18446744073709551615,"sweep_interval_ms":null}',
        "18446744073709551615",
        "c", "erin", NULL, "1", NULL,
        "+", "18446744073709551615",
        "v", "$0", "1", NULL,
        "=", "0",
        "v", "$0", "1", NULL,
        "q", "",
    ),
}


def write(target: str, seeds: dict) -> None:
    directory = ROOT / target
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, seed in seeds.items():
        data = seed if isinstance(seed, bytes) else seed.encode()
        (directory / name).write_bytes(data)


def main() -> None:
    write("token_parse", {**TOKENS, **TOKEN_BYTES})
    write("cookie_header", COOKIES)
    write("session_data", DATA)
    write("c_abi", C_ABI)


if __name__ == "__main__":
    main()
