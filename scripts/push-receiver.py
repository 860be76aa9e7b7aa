"""An independent Web Push receiver for the Web Push notification test.

It plays a browser and its push service together: it makes a P-256 key pair and an auth secret
(the subscription's `p256dh` and `auth`), listens on a free loopback port, and for each push
request it checks the VAPID authorization (RFC 8292) with PyPI's py_vapid and decrypts the
body (RFC 8291, aes128gcm) with PyPI's http_ece, neither of which shares code with the hub.

Run with the python from scripts/push-peer.sh. The first line on stdout is JSON:
  {"endpoint": "http://127.0.0.1:PORT/push/sub-1", "gone": ".../gone/sub-2", "p256dh": ..., "auth": ...}
then one JSON line per request received:
  {"path": ..., "ok": true|false, "why": ..., "plaintext": ..., "k": ..., "claims": {...},
   "headers": {...}, "body_b64": ...}
`/push/...` answers 201 when every check passes and 400 otherwise; `/gone/...` answers 410
(a subscription the user revoked) after the same checks.
"""

import base64
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


PRIVATE = ec.generate_private_key(ec.SECP256R1())
P256DH = PRIVATE.public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
)
AUTH = __import__("os").urandom(16)


def check(handler, body):
    """Return (plaintext, k, claims) or raise ValueError naming what failed."""
    h = handler.headers
    if h.get("Content-Encoding") != "aes128gcm":
        raise ValueError("Content-Encoding is not aes128gcm")
    if h.get("TTL") is None or not h.get("TTL").isdigit():
        raise ValueError("no TTL header")
    auth = h.get("Authorization") or ""
    scheme, _, params = auth.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError("Authorization is not vapid")
    parts = {}
    for p in params.split(","):
        k, _, v = p.strip().partition("=")
        parts[k] = v
    if "t" not in parts or "k" not in parts:
        raise ValueError("vapid without t or k")
    # py_vapid's parser wants "vapid t=...,k=..." (no space after the comma).
    if not Vapid02.verify("vapid t={},k={}".format(parts["t"], parts["k"])):
        raise ValueError("the VAPID signature does not verify")
    header, claims, _ = parts["t"].split(".")
    if json.loads(unb64url(header)).get("alg") != "ES256":
        raise ValueError("the VAPID token is not ES256")
    claims = json.loads(unb64url(claims))
    port = handler.server.server_address[1]
    if claims.get("aud") != "http://127.0.0.1:{}".format(port):
        raise ValueError("the VAPID audience is not this push service's origin")
    now = time.time()
    if not (now < claims.get("exp", 0) <= now + 24 * 3600 + 60):
        raise ValueError("the VAPID token's expiry is not within 24 hours")
    sub = claims.get("sub", "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise ValueError("the VAPID subject is not a mailto: or https: contact")
    plaintext = http_ece.decrypt(
        body, private_key=PRIVATE, auth_secret=AUTH, version="aes128gcm"
    )
    return plaintext.decode(), parts["k"], claims


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        rec = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_b64": b64url(body),
        }
        try:
            rec["plaintext"], rec["k"], rec["claims"] = check(self, body)
            rec["ok"] = True
        except Exception as e:  # every failure is reported to the test
            rec["ok"] = False
            rec["why"] = "{}: {}".format(type(e).__name__, e)
        status = 400
        if rec["ok"]:
            status = 410 if self.path.startswith("/gone/") else 201
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print(json.dumps(rec), flush=True)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = "http://127.0.0.1:{}".format(server.server_address[1])
    print(
        json.dumps(
            {
                "endpoint": base + "/push/sub-1",
                "gone": base + "/gone/sub-2",
                "p256dh": b64url(P256DH),
                "auth": b64url(AUTH),
            }
        ),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
