"""`python -m web.demo_users`: the users file of the demo hall's dashboard — one duty supervisor,
`duty` with the password `demo`, printed as TOML (`taxhall demo` writes it before the web
starts). Only for the demo: a real hall's users file is written with `taxhall web --hash-password`.
"""

from __future__ import annotations

from web.auth import hash_password

DEMO_USER = "duty"
DEMO_PASSWORD = "demo"


def main() -> int:
    print(f'# the demo hall\'s dashboard user: {DEMO_USER} / {DEMO_PASSWORD}\n'
          f'[users.{DEMO_USER}]\npassword_hash = "{hash_password(DEMO_PASSWORD)}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
