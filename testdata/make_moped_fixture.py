#!/usr/bin/env python3
"""Writes moped_fixture.json: claims items encrypted the way Moped's Python tooling does it
(cryptography.fernet), for the Go compatibility tests. The key is generated here and protects
nothing but this fixture. Regenerate with: python3 testdata/make_moped_fixture.py"""
import json
import os
from cryptography.fernet import Fernet

key = Fernet.generate_key()
f = Fernet(key)

def enc(obj):
    return f.encrypt(json.dumps(obj).encode("utf-8")).decode("ascii")

items = [
    {   # A Moped user: claims without db/workgroup ids; they come from the item's attributes.
        "item": {
            "user_id": {"S": "alice@example.com"},
            "cognito_uuid": {"S": "96051f62-7897-4264-ad97-34be981bfcc9"},
            "database_id": {"N": "42"},
            "workgroup_id": {"N": "7"},
            "claims": {"S": enc({
                "x-hasura-user-id": "96051f62-7897-4264-ad97-34be981bfcc9",
                "x-hasura-default-role": "editor",
                "x-hasura-allowed-roles": ["viewer", "editor"],
            })},
        },
        "email_in_event": "Alice@Example.com",
        "sub": "96051f62-7897-4264-ad97-34be981bfcc9",
        "want": {
            "x-hasura-user-id": "96051f62-7897-4264-ad97-34be981bfcc9",
            "x-hasura-default-role": "editor",
            "x-hasura-allowed-roles": ["viewer", "editor"],
            "x-hasura-user-db-id": "42",
            "x-hasura-user-wg-id": "7",
        },
    },
    {   # Ids stored as strings, claims already carrying a db id (the claims win), no cognito_uuid.
        "item": {
            "user_id": {"S": "bob@example.com"},
            "database_id": {"S": "99"},
            "claims": {"S": enc({
                "x-hasura-default-role": "viewer",
                "x-hasura-allowed-roles": ["viewer"],
                "x-hasura-user-db-id": 12,
            })},
        },
        "email_in_event": "bob@example.com",
        "sub": "0b5c9a2e-1111-4222-8333-944445555666",
        "want": {
            "x-hasura-user-id": "0b5c9a2e-1111-4222-8333-944445555666",
            "x-hasura-default-role": "viewer",
            "x-hasura-allowed-roles": ["viewer"],
            "x-hasura-user-db-id": "12",
        },
    },
]

out = {"key": key.decode("ascii"), "items": items}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moped_fixture.json")
with open(path, "w") as fh:
    json.dump(out, fh, indent=2)
    fh.write("\n")
print("wrote", path)
