"""The browser's side of Device Bound Session Credentials, for the DBSC tests.

``DBSCBrowser`` keeps cookies (with their Max-Age on the test's clock), answers a
``Secure-Session-Registration`` header by making a key pair (ES256 or RS256, with
``cryptography``) and posting a self-signed proof, and before a request whose bound
cookie has expired it runs the refresh: the POST that draws a challenge, then the one
with the proof. ``supports_dbsc=False`` is a browser that ignores DBSC entirely.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from support.sites import Reply, SiteClient


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return b64u(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class Key:
    """A key pair as a browser keeps it, signing DBSC proofs the way WebCrypto does."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg == "ES256":
            self._ec = ec.generate_private_key(ec.SECP256R1())
            numbers = self._ec.public_key().public_numbers()
            self.jwk: dict[str, str] = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64u(numbers.x.to_bytes(32, "big")),
                "y": b64u(numbers.y.to_bytes(32, "big")),
            }
        else:
            self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = self._rsa.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": _uint(public.n), "e": _uint(public.e)}

    def proof(self, payload: dict[str, Any], *, with_jwk: bool, header: dict[str, Any] | None = None) -> str:
        head: dict[str, Any] = {"alg": self.alg, "typ": "dbsc+jwt"}
        if with_jwk:
            head["jwk"] = self.jwk
        head.update(header or {})
        signing_input = f"{b64u(json.dumps(head).encode())}.{b64u(json.dumps(payload).encode())}"
        if self.alg == "ES256":
            r, s = decode_dss_signature(self._ec.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = self._rsa.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64u(signature)}"


def parameters(header: str) -> dict[str, str]:
    return dict(re.findall(r';(\w+)="([^"]*)"', header))


class DBSCBrowser:
    def __init__(self, site: SiteClient, *, alg: str = "ES256", supports_dbsc: bool = True) -> None:
        self.site = site
        self.clock = site.manager.clock
        self.alg = alg
        self.supports_dbsc = supports_dbsc
        self.cookies: dict[str, tuple[str, float | None]] = {}
        self.key: Key | None = None
        self.session_id: str | None = None
        self.refresh_url: str | None = None
        self.bound_names: list[str] = []
        self.registrations: list[Reply] = []
        self.refreshes = 0

    def now(self) -> float:
        return self.clock.now().timestamp()

    def cookie_header(self) -> str | None:
        now = self.now()
        live = [
            f"{name}={value}" for name, (value, until) in self.cookies.items() if until is None or until > now
        ]
        return "; ".join(live) or None

    def take(self, reply: Reply) -> None:
        for value in reply.set_cookies:
            name, _, rest = value.partition("=")
            token = rest.split(";", 1)[0].strip('"')
            age = re.search(r"(?i)max-age=(-?\d+)", value)
            if not token or (age and int(age.group(1)) <= 0):
                self.cookies.pop(name, None)
                continue
            self.cookies[name] = (token, self.now() + int(age.group(1)) if age else None)

    def bound_cookie_live(self) -> bool:
        now = self.now()
        return all(
            name in self.cookies and (self.cookies[name][1] or now + 1) > now for name in self.bound_names
        )

    def request(self, path: str, method: str = "GET", **query: Any) -> Reply:
        if self.key is not None and not self.bound_cookie_live():
            self.refresh()  # a DBSC browser holds the request back until the refresh is done
        return self.send(method, path, **query)

    def send(self, method: str, path: str, headers: dict[str, str] | None = None, **query: Any) -> Reply:
        reply = self.site.request(method, path, cookie=self.cookie_header(), headers=headers, **query)
        self.take(reply)
        offer = reply.header("secure-session-registration")
        if offer is not None and self.supports_dbsc and self.key is None:
            self.register(offer)
        return reply

    def register(self, offer: str) -> None:
        algorithms = re.match(r"\(([^)]*)\)", offer)
        assert algorithms is not None and self.alg in algorithms.group(1).split(), offer
        params = parameters(offer)
        key = Key(self.alg)
        proof = key.proof({"jti": params["challenge"], "iat": int(self.now())}, with_jwk=True)
        reply = self.send("POST", params["path"], headers={"Secure-Session-Response": proof})
        self.registrations.append(reply)
        assert reply.status == 200, reply.text
        config = json.loads(reply.text)
        self.key = key
        self.session_id = config["session_identifier"]
        self.refresh_url = config["refresh_url"]
        self.bound_names = [credential["name"] for credential in config["credentials"]]

    def refresh(self) -> None:
        assert self.key is not None and self.refresh_url is not None and self.session_id is not None
        self.refreshes += 1
        ask = self.send("POST", self.refresh_url, headers={"Sec-Secure-Session-Id": self.session_id})
        assert ask.status == 403, ask.text
        challenge_header = ask.header("secure-session-challenge")
        assert challenge_header is not None
        challenge = challenge_header.split(";", 1)[0].strip('"')
        assert parameters(challenge_header)["id"] == self.session_id
        proof = self.key.proof({"jti": challenge}, with_jwk=False)
        reply = self.send(
            "POST",
            self.refresh_url,
            headers={"Sec-Secure-Session-Id": self.session_id, "Secure-Session-Response": proof},
        )
        assert reply.status == 200, reply.text
