#!/usr/bin/env python3
"""tokenserver: a fake OAuth2 token endpoint (Microsoft identity platform v2.0 and Google
OAuth 2.0) over HTTPS on 127.0.0.1, for the tests of migrabox's source authentication
profiles. It checks what the real endpoints check and answers their error JSON.

    tokenserver.py CONFIG.json PORTFILE

CONFIG:
  {"cert": "server.pem", "key": "server.key",      TLS (a test CA signs the certificate)
   "ttl": 5,                                         token lifetime in seconds
   "tokens_file": "tokens.json",                     issued tokens, read by quirkserver.py
   "microsoft": {"TENANT": {"CLIENT_ID": {"secret": "...",          (optional)
                                          "x5t": "...", "modulus": "hex"}}},   (optional)
   "google": {"client_email": "...", "modulus": "hex", "delegated": true,
              "users": ["a@example.com", ...]}}

Paths: POST /{tenant}/oauth2/v2.0/token (Microsoft), POST /token (Google). Special tenants
play a hostile endpoint: "endless" (a body that never ends), "huge" (a 10 MB JSON),
"drip" (one byte a second), "html" (200 text/html), "busy" (503).

Microsoft checks: grant_type=client_credentials, scope exactly
https://outlook.office365.com/.default, tenant (AADSTS90002), client_id (AADSTS700016),
client_secret (AADSTS7000215), or a client assertion: type, RS256 signature against the
registered certificate's key, x5t (AADSTS700027), aud = this URL, iss = sub = client_id,
nbf/exp window at most 10 min, jti never reused (AADSTS700027).
Google checks: grant_type jwt-bearer, RS256 signature (invalid_grant "Invalid JWT
Signature."), iss = client_email (invalid_client), aud = this URL, scope exactly
https://mail.google.com/ (invalid_scope), iat/exp window at most 1 h (invalid_grant), sub a
known user (invalid_grant "Invalid email or User ID"), delegation (unauthorized_client).

On every request it rewrites PORTFILE.report: {"requests": N, "issued": N, "refused": N,
"by_key": {"tenant/client or sub": issued}}. Secrets are never logged.
"""
import base64
import hashlib
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SKEW = 300
LOCK = threading.Lock()
STATE = {"requests": 0, "issued": 0, "refused": 0, "by_key": {}}
TOKENS = {}
JTIS = set()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# DER DigestInfo prefix of SHA-256 (RFC 8017 section 9.2 note 1)
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def rs256_ok(signing_input, sig, modulus_hex):
    n = int(modulus_hex, 16)
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    m = pow(int.from_bytes(sig, "big"), 65537, n).to_bytes(k, "big")
    digest = hashlib.sha256(signing_input).digest()
    t = SHA256_PREFIX + digest
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return m == expected


def parse_jwt(token):
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except Exception:
        return None
    return header, claims, sig, (parts[0] + "." + parts[1]).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # no request lines (they could carry nothing secret,
        pass                             # but stay quiet)

    def answer(self, status, obj, ctype="application/json; charset=utf-8"):
        body = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        with LOCK:
            if status != 200:
                STATE["refused"] += 1

    def ms_error(self, status, error, code, text):
        self.answer(status, {"error": error,
                             "error_description": "AADSTS%d: %s Trace ID: 0000 Correlation ID: 1111"
                                                  " Timestamp: 2026-01-01 00:00:00Z" % (code, text),
                             "error_codes": [code], "timestamp": "2026-01-01 00:00:00Z",
                             "trace_id": "0000", "correlation_id": "1111"})

    def g_error(self, status, error, text):
        self.answer(status, {"error": error, "error_description": text})

    def issue(self, key, sub, scope):
        tok = "tok-" + os.urandom(24).hex()
        ttl = int(CONFIG.get("ttl", 5))
        with LOCK:
            TOKENS[tok] = {"exp": time.time() + ttl, "sub": sub, "scope": scope}
            # drop long-expired tokens, rewrite the file atomically
            now = time.time()
            for t in [t for t, v in TOKENS.items() if v["exp"] < now - 60]:
                del TOKENS[t]
            tmp = CONFIG["tokens_file"] + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(TOKENS, fh)
            os.rename(tmp, CONFIG["tokens_file"])
            STATE["issued"] += 1
            STATE["by_key"][key] = STATE["by_key"].get(key, 0) + 1
        self.answer(200, {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
                          "access_token": tok})

    def hostile(self, tenant):
        if tenant == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"[" * 4096
            try:
                for _ in range(100000):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass
        elif tenant == "huge":
            body = b'{"access_token":"' + b"a" * (10 * 1024 * 1024) + b'"}'
            try:
                self.answer(200, body, "application/json")
            except OSError:
                pass
        elif tenant == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(1)
            except OSError:
                pass
        elif tenant == "html":
            self.answer(200, b"<html><body>Sign in</body></html>", "text/html; charset=utf-8")
        else:
            self.answer(503, b"<html>Service Unavailable</html>", "text/html")

    def do_POST(self):
        with LOCK:
            STATE["requests"] += 1
        n = int(self.headers.get("Content-Length") or 0)
        if n > 65536:
            return self.answer(413, {"error": "invalid_request"})
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("ascii", "replace"),
                                     keep_blank_values=True)
        f = {k: v[0] for k, v in form.items() if len(v) == 1}
        if self.headers.get("Content-Type", "") != "application/x-www-form-urlencoded":
            return self.answer(400, {"error": "invalid_request",
                                     "error_description": "bad content type"})
        port = self.server.server_address[1]
        url = "https://127.0.0.1:%d%s" % (port, self.path)
        parts = self.path.split("/")
        try:
            if self.path == "/token":
                self.google(f, url)
            elif len(parts) == 5 and parts[2:] == ["oauth2", "v2.0", "token"]:
                if parts[1] in ("endless", "huge", "drip", "html", "busy"):
                    return self.hostile(parts[1])
                self.microsoft(parts[1], f, url)
            else:
                self.answer(404, b"not found", "text/plain")
        finally:
            write_report()

    def microsoft(self, tenant, f, url):
        apps = CONFIG.get("microsoft", {}).get(tenant)
        if apps is None:
            return self.ms_error(400, "invalid_request", 90002,
                                 "Tenant '%s' not found." % tenant[:60])
        if f.get("grant_type") != "client_credentials":
            return self.ms_error(400, "unsupported_grant_type", 70003, "bad grant type")
        if f.get("scope") != "https://outlook.office365.com/.default":
            return self.ms_error(400, "invalid_scope", 1002012, "The provided value for scope "
                                 "is not valid.")
        cid = f.get("client_id", "")
        app = apps.get(cid)
        if app is None:
            return self.ms_error(400, "unauthorized_client", 700016,
                                 "Application with identifier '%s' was not found in the "
                                 "directory '%s'." % (cid[:40], tenant[:40]))
        if "client_secret" in f:
            if app.get("secret") is None or f["client_secret"] != app["secret"]:
                return self.ms_error(401, "invalid_client", 7000215,
                                     "Invalid client secret provided. Ensure the secret being "
                                     "sent in the request is the client secret value, not the "
                                     "client secret ID.")
            return self.issue(tenant + "/" + cid, "*", "ms")
        if f.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return self.ms_error(401, "invalid_client", 7000218, "The request body must contain "
                                 "'client_assertion' or 'client_secret'.")
        j = parse_jwt(f.get("client_assertion", ""))
        now = time.time()
        if not j:
            return self.ms_error(401, "invalid_client", 700027, "Client assertion failed "
                                 "signature validation (malformed).")
        header, claims, sig, signing_input = j
        if header.get("alg") != "RS256" or header.get("x5t") != app.get("x5t") or \
                not rs256_ok(signing_input, sig, app["modulus"]):
            return self.ms_error(401, "invalid_client", 700027, "Client assertion failed "
                                 "signature validation.")
        if claims.get("aud") != url or claims.get("iss") != cid or claims.get("sub") != cid:
            return self.ms_error(401, "invalid_client", 700021, "Client assertion audience or "
                                 "issuer is not valid.")
        exp, nbf = claims.get("exp", 0), claims.get("nbf", now)
        if not (now - SKEW < exp <= now + 600 + SKEW) or nbf > now + SKEW:
            return self.ms_error(401, "invalid_client", 700024, "Client assertion is not within "
                                 "its valid time range.")
        jti = claims.get("jti")
        with LOCK:
            reused = not jti or jti in JTIS
            JTIS.add(jti)
        if reused:
            return self.ms_error(401, "invalid_client", 700027, "The jti was already used.")
        return self.issue(tenant + "/" + cid, "*", "ms")

    def google(self, f, url):
        g = CONFIG.get("google", {})
        if f.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.g_error(400, "unsupported_grant_type", "Invalid grant_type: ")
        j = parse_jwt(f.get("assertion", ""))
        if not j:
            return self.g_error(400, "invalid_grant", "Invalid JWT: malformed")
        header, claims, sig, signing_input = j
        if claims.get("iss") != g.get("client_email"):
            return self.g_error(401, "invalid_client", "The OAuth client was not found.")
        if header.get("alg") != "RS256" or not rs256_ok(signing_input, sig, g["modulus"]):
            return self.g_error(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != url:
            return self.g_error(400, "invalid_grant", "Invalid JWT: audience")
        if claims.get("scope") != "https://mail.google.com/":
            return self.g_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience "
                                "provided.")
        now = time.time()
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - SKEW <= now <= exp) or exp - iat > 3600:
            return self.g_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived "
                                "token (60 minutes) and in a reasonable timeframe. Check your "
                                "iat and exp values in the JWT claim.")
        sub = claims.get("sub", "")
        if sub not in g.get("users", []):
            return self.g_error(400, "invalid_grant", "Invalid email or User ID")
        if not g.get("delegated", True):
            return self.g_error(401, "unauthorized_client", "Client is unauthorized to retrieve "
                                "access tokens using this method, or client not authorized for "
                                "any of the scopes requested.")
        return self.issue("google/" + sub, sub, "google")


def write_report():
    with LOCK:
        data = json.dumps(STATE)
    tmp = REPORT + ".tmp." + str(threading.get_ident())
    with open(tmp, "w") as fh:
        fh.write(data)
    os.rename(tmp, REPORT)


def main():
    global CONFIG, REPORT
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as fh:
        CONFIG = json.load(fh)
    portfile = sys.argv[2]
    REPORT = portfile + ".report"
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CONFIG["cert"], CONFIG["key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    write_report()
    with open(portfile + ".tmp", "w") as fh:
        fh.write("%d\n" % srv.server_address[1])
    os.rename(portfile + ".tmp", portfile)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


CONFIG = {}
REPORT = ""
if __name__ == "__main__":
    sys.exit(main())
