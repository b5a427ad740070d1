#!/usr/bin/env python3
"""PyJWT RS256 mint rate on one core: the peer figure for `authprobe`'s minting target.

The key is generated once and passed to PyJWT as a loaded `cryptography` RSA private key
object (not a PEM per call), so each token costs what a well-written Python minter pays:
claims dict -> JSON -> base64url -> RSASSA-PKCS1-v1_5/SHA-256 with RSA-2048 -> base64url.

Prints one line per round on stderr and, on stdout, the best round as

    pyjwt rs256 one-thread: <rate> tokens/s (<us> us/token, best of <rounds> x <n>)
    openssl rs256 sign-only one-thread: <rate> tokens/s (...)
    pyjwt work beyond the RSA signature: <us> us/token (<pct>% of a mint)

in the same unit and layout as `AUTHPROBE_MINT_RATE=1 cargo bench --bench identity`. The
sign-only line is `key.sign()` of the same `header.claims` bytes: the RSA share of a mint.

Usage: python3 scripts/pyjwt_mint_rate.py [--tokens N] [--rounds R] [--bits 2048]
Needs: pip install pyjwt cryptography
"""

import argparse
import os
import sys
import time

import cryptography
import jwt
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def mint_once(key, kid, now):
    claims = {
        "iss": "https://idp.authprobe.test",
        "sub": "user-1234",
        "aud": "authprobe-api",
        "iat": now,
        "exp": now + 300,
        "jti": os.urandom(16).hex(),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=5000, help="tokens per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best is reported")
    parser.add_argument("--bits", type=int, default=2048, help="RSA modulus size")
    args = parser.parse_args()

    key = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
    kid = "pyjwt-bench"
    print(
        f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}, "
        f"{backend.openssl_version_text()}, RSA-{args.bits}",
        file=sys.stderr,
    )

    # Warm up: first calls pay for imports and lazy initialisation.
    token = mint_once(key, kid, int(time.time()))
    jwt.decode(
        token, key.public_key(), algorithms=["RS256"], audience="authprobe-api"
    )  # the token is real
    for _ in range(200):
        mint_once(key, kid, int(time.time()))

    signing_input = token.rsplit(".", 1)[0].encode()
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def mint():
        mint_once(key, kid, int(time.time()))

    def sign():
        key.sign(signing_input, pkcs1, sha256)

    def best_rate(label, f):
        best = 0.0
        for r in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.tokens):
                f()
            rate = args.tokens / (time.perf_counter() - start)
            best = max(best, rate)
            print(f"  {label} round {r + 1}: {rate:.0f}/s", file=sys.stderr)
        return best

    def report(label, rate):
        print(
            f"{label}: {rate:.0f} tokens/s "
            f"({1e6 / rate:.1f} us/token, best of {args.rounds} x {args.tokens})"
        )

    minted = best_rate("mint", mint)
    signed = best_rate("sign", sign)
    report("pyjwt rs256 one-thread", minted)
    report("openssl rs256 sign-only one-thread", signed)
    print(
        f"pyjwt work beyond the RSA signature: {1e6 / minted - 1e6 / signed:.1f} us/token "
        f"({100 * (1 - minted / signed):.1f}% of a mint)"
    )

if __name__ == "__main__":
    main()
