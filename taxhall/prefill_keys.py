"""The hall's signing key for pre-filled request codes (see taxhall/prefill.py): where it lives
and how it is made.

The private key stays on the web host (`[web] prefill_key_file`, by default
`<data_dir>/web/prefill-ed25519.pem`, PKCS#8 PEM, mode 0600). `taxhall web` makes it on its
first start when the file is missing; it is never sent anywhere. Kiosks and counter callers
get the public key in their config (`[kiosk] prefill_keys`, `[counter] prefill_keys`); the web
host shows it at `/prepare/key` and logs it at start; on a host without `taxhall web`
running, `python -m taxhall.prefill_keys KEY_FILE` makes or reads the key and prints the same
line. Rotating: make a new file, add the new
public key to the devices first, keep the old one there until codes signed with it expire.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, load_pem_private_key

log = logging.getLogger("taxhall.prefill")


class SigningKeyError(Exception):
    """The key file exists but cannot be used; the message says which file and why."""


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The hall's key from `path`, made there (0600, never overwriting) if there is none."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_signing_key(path)  # another process made it first: use theirs
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        log.info("made a new signing key for pre-filled codes at %s", path)
        return key
    return load_signing_key(path)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningKeyError(f"cannot read the pre-filled code key {path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key; move it away and restart "
                              "to make a new one (then give devices the new public key)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def main(argv: list[str] | None = None) -> int:
    """`python -m taxhall.prefill_keys KEY_FILE`: makes the key if missing (as `taxhall web`
    does on first start) and prints the line kiosks and counters need in their config."""
    import argparse

    from taxhall.prefill import public_key_text

    parser = argparse.ArgumentParser(prog="python -m taxhall.prefill_keys",
                                     description="the hall's signing key for pre-filled request codes")
    parser.add_argument("key_file", type=Path, help="e.g. /var/lib/taxhall/web/prefill-ed25519.pem")
    args = parser.parse_args(argv)
    try:
        key = load_or_create_signing_key(args.key_file)
    except SigningKeyError as exc:
        print(f"taxhall.prefill_keys: {exc}")
        return 1
    print(f'prefill_keys = ["{public_key_text(key.public_key())}"]')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
