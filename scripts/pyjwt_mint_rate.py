#!/usr/bin/env python3
"""PyJWT RS256 mint rate on one core: the peer figure for `authprobe`'s minting target.

The key is generated once and passed to PyJWT as a loaded `cryptography` RSA private key
object (not a PEM per call), so each token costs what a well-written Python minter pays:
claims dict -> JSON -> base64url -> RSASSA-PKCS1-v1_5/SHA-256 with RSA-2048 -> base64url.

Prints one line per round on stderr and, on stdout, the best round as

    pyjwt rs256 one-thread: <rate> tokens/s (<us> us/token, best of <rounds> x <n>)

which is the same unit and layout as `AUTHPROBE_MINT_RATE=1 cargo bench --bench identity`.

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
from cryptography.hazmat.primitives.asymmetric import rsa


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

    best = 0.0
    for r in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.tokens):
            mint_once(key, kid, int(time.time()))
        elapsed = time.perf_counter() - start
        rate = args.tokens / elapsed
        best = max(best, rate)
        print(f"  round {r + 1}: {rate:,.0f} tokens/s", file=sys.stderr)

    print(
        f"pyjwt rs256 one-thread: {best:.0f} tokens/s "
        f"({1e6 / best:.1f} us/token, best of {args.rounds} x {args.tokens})"
    )


if __name__ == "__main__":
    main()
