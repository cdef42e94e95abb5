"""Build step: a CA bundle (certifi's) as an OpenSSL hashed directory, the form that loads fastest.

`python handler/local/ca_directory.py BUNDLE.pem DIRECTORY` writes each certificate of the
bundle to DIRECTORY as `<subject hash>.<n>` (what `openssl rehash` links), so that
`ssl.create_default_context(capath=DIRECTORY)` reads a certificate only when a handshake needs
its issuer, instead of parsing the whole bundle (about 150 certificates, 20 to 40 ms) whenever a
TLS context is made. The hashes come from `openssl x509 -subject_hash`, the same OpenSSL that
computes them at lookup; without `openssl` nothing is written and the function falls back to
the bundle (handler.sdrs.client.tls_context). Standard library only: it runs at build time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


def certificates(bundle: str) -> list[str]:
    return [match.group(0) + "\n" for match in _PEM.finditer(bundle)]


def subject_hash(openssl: str, pem: str) -> str:
    done = subprocess.run(  # noqa: S603 (openssl from PATH, the PEM on stdin)
        [openssl, "x509", "-noout", "-subject_hash"], input=pem, capture_output=True, text=True, check=True
    )
    value = done.stdout.strip()
    if not re.fullmatch(r"[0-9a-f]{8}", value):
        raise ValueError(f"openssl gave {value!r} as a subject hash")
    return value


def build(bundle: Path, directory: Path) -> int:
    """The number of certificates written (0 when there is no openssl: nothing is written)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        print("ca_directory: no openssl: the function will load the CA bundle instead", file=sys.stderr)
        return 0
    pems = certificates(bundle.read_text(encoding="ascii"))
    if not pems:
        raise ValueError(f"{bundle} holds no certificate")
    directory.mkdir(parents=True, exist_ok=True)
    seen: Counter[str] = Counter()
    for pem in pems:
        name = subject_hash(openssl, pem)
        (directory / f"{name}.{seen[name]}").write_text(pem, encoding="ascii")
        seen[name] += 1
    return len(pems)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    written = build(Path(argv[0]), Path(argv[1]))
    print(f"ca_directory: {written} certificates in {argv[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
