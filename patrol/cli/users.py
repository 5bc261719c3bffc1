"""``patrol users``: the console's people (add, list, remove, role) and their API tokens."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Connection, RowMapping

    from ..store import Store

ROLES = ("viewer", "approver", "admin")
MIN_PASSWORD = 10


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("users", help="who may sign in to the console (patrol serve)")
    usub = p.add_subparsers(dest="users_command", metavar="SUBCOMMAND")
    usub.required = True
    a = usub.add_parser("add", help="add a user (the password is asked for, or read from stdin)")
    a.add_argument("name")
    a.add_argument("--role", choices=ROLES, required=True, help="viewer: reads; approver: also approves, acknowledges, "
                   "silences, resolves; admin: everything")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a.set_defaults(func=add)
    usub.add_parser("list", help="list users and their tokens").set_defaults(func=list_users)
    r = usub.add_parser("remove", help="remove a user (their sessions and tokens end)")
    r.add_argument("name")
    r.set_defaults(func=remove)
    ro = usub.add_parser("role", help="change a user's role")
    ro.add_argument("name")
    ro.add_argument("role", choices=ROLES)
    ro.set_defaults(func=set_role)
    t = usub.add_parser("token", help="make an API token for a user (shown once; only its hash is kept)")
    t.add_argument("name")
    t.add_argument("--label", default="script", help="what the token is for")
    t.set_defaults(func=token)
    rv = usub.add_parser("revoke", help="revoke an API token by its number (see users list)")
    rv.add_argument("token_id", type=int)
    rv.set_defaults(func=revoke)


def _store(args: argparse.Namespace) -> Store:
    from ..config import load_config
    from ..store import open_from_config

    return open_from_config(load_config(args.config))


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _password(from_stdin: bool) -> str:
    import getpass

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise InputError("the two passwords differ")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


def add(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..store import console_repo as repo
    from ..webconsole.auth import hash_password

    name = args.name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise InputError(f"user name {args.name!r}: 1 to 64 characters, no spaces")
    store = _store(args)
    with store.read() as conn:
        if repo.user_by_name(conn, name) is not None:
            raise InputError(f"there is already a user {name} (patrol users role {name} ROLE changes the role)")
    hashed = hash_password(_password(args.password_stdin))
    now = utcnow()
    with store.write() as conn:
        repo.add_user(conn, name, args.role, hashed, now)
        repo.audit(conn, now, _actor(), "cli", "user.add", f"user:{name}", {"role": args.role})
    console.say(f"added {console.safe(name)} ({args.role})")
    return 0


def _user(conn: Connection, name: str) -> RowMapping:
    from ..store import console_repo as repo

    row = repo.user_by_name(conn, name)
    if row is None:
        raise InputError(f"there is no user {name} (see patrol users list)")
    return row


def list_users(args: argparse.Namespace) -> int:
    from .. import console
    from ..store import console_repo as repo

    with _store(args).read() as conn:
        for u in repo.users(conn):
            console.say(f"{console.safe(u['name'])}  {u['role']}")
            for t in repo.tokens_of(conn, u["id"]):
                state = "revoked" if t["revoked_at"] else "active"
                console.say(f"  token #{t['id']} {console.safe(t['name'])} ({state})")
    return 0


def remove(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..store import console_repo as repo

    with _store(args).write() as conn:
        row = _user(conn, args.name)
        repo.remove_user(conn, row["id"])
        repo.audit(conn, utcnow(), _actor(), "cli", "user.remove", f"user:{args.name}")
    console.say(f"removed {console.safe(args.name)}")
    return 0


def set_role(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..store import console_repo as repo

    with _store(args).write() as conn:
        row = _user(conn, args.name)
        repo.update_user(conn, row["id"], role=args.role)
        repo.audit(conn, utcnow(), _actor(), "cli", "user.role", f"user:{args.name}", {"from": row["role"], "to": args.role})
    console.say(f"{console.safe(args.name)} is now {args.role}")
    return 0


def token(args: argparse.Namespace) -> int:
    from ..core.isotime import utcnow
    from ..store import console_repo as repo
    from ..webconsole.auth import new_token, token_hash

    value = new_token("pt_")
    with _store(args).write() as conn:
        row = _user(conn, args.name)
        tid = repo.add_token(conn, row["id"], args.label, token_hash(value), utcnow())
        repo.audit(conn, utcnow(), _actor(), "cli", "token.add", f"user:{args.name}", {"token": tid, "label": args.label})
    print(value)  # plain, so a script can capture it; shown only this once
    return 0


def revoke(args: argparse.Namespace) -> int:
    from .. import console
    from ..core.isotime import utcnow
    from ..store import console_repo as repo

    with _store(args).write() as conn:
        if not repo.revoke_token(conn, args.token_id, utcnow()):
            raise InputError(f"there is no active token #{args.token_id} (see patrol users list)")
        repo.audit(conn, utcnow(), _actor(), "cli", "token.revoke", f"token:{args.token_id}")
    console.say(f"token #{args.token_id} revoked")
    return 0
