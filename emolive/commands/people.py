"""List or forget the saved people: the names and face-identity embeddings kept for the next session when
`people.remember` is on (stored on this machine only, never written to CSVs)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true", help="list the saved people (the default)")
    parser.add_argument("--forget", action="store_true", help="delete the saved people")
    parser.add_argument("--file", type=Path, help="the saved-people file (default: people.json in the user's "
                                                  "data folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from emolive.face.identity_store import PeopleStore

    store = PeopleStore(args.file)
    if args.forget:
        deleted = store.forget()
        if args.json:
            print(json.dumps({"file": str(store.path), "deleted": deleted}))
        else:
            print(f"deleted the saved people ({store.path})" if deleted else f"no saved people ({store.path})")
        return 0
    loaded = store.load()
    if loaded.problem:
        print(loaded.problem)
    if args.json:
        print(json.dumps({"file": str(store.path), "people": [
            {"id": p.person_id, "name": p.name, "embeddings": len(p.exemplars)} for p in loaded.people]}, indent=2))
        return 0
    if not loaded.people:
        print(f"no saved people ({store.path})")
        return 0
    for p in loaded.people:
        print(f"person {p.person_id:<4} {p.name:<30} {len(p.exemplars)} reference embedding(s)")
    print(f"{len(loaded.people)} saved (people.remember; {store.path}); `emolive people --forget` deletes them")
    return 0
