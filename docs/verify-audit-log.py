#!/usr/bin/env python3
"""Verify a govern audit log with no govern at hand.

Checks every record's hash (SHA-256 of its RFC 8785 form without `hash`), the chain (`seq`
contiguous, `prev` = the hash of the record before), that lines which are not records are
only the torn lines a crash leaves (named by the record after them, or last in the log), and
with --key the Ed25519 signature, head and count of every checkpoint. It does not decide the
events again: that needs govern and the bundles (`govern replay-audit`). See docs/audit.md.

    pip install rfc8785 cryptography
    python3 verify-audit-log.py --key point.pub audit.jsonl audit.1.jsonl …

Give the files of a rotated series in chain order. Exit status 0 when every check holds.
"""
import argparse
import base64
import hashlib
import json
import sys

import rfc8785

GENESIS = "sha256:" + "0" * 64


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def strict(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a member name appears twice")
    return dict(pairs)


def number(text):
    # JSON numbers are IEEE 754 doubles in RFC 8785: large integers are written as doubles.
    value = int(text)
    return value if abs(value) < 2**53 else float(text)


def bad_constant(name):
    raise ValueError(f"{name} is not JSON")


def load_keys(paths):
    from cryptography.hazmat.primitives.serialization import (
        Encoding, PublicFormat, load_pem_public_key)
    keys = {}
    for path in paths:
        key = load_pem_public_key(open(path, "rb").read())
        der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        keys[digest(der)] = key
    return keys


def main():
    ap = argparse.ArgumentParser(description="verify a govern audit log")
    ap.add_argument("--key", action="append", default=[], help="public key (PEM) of checkpoints")
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    keys = load_keys(args.key)
    last_hash, last_seq = None, None
    torn = []  # lines that are not records, waiting for the record after them
    records = checkpoints = failures = 0

    def fail(where, message):
        nonlocal failures
        failures += 1
        print(f"FAIL {where}: {message}")

    for name in args.logs:
        with open(name, "rb") as f:
            for n, raw in enumerate(f, 1):
                line = raw[:-1] if raw.endswith(b"\n") else raw
                where = f"{name} line {n}"
                try:
                    rec = json.loads(line, object_pairs_hook=strict, parse_int=number,
                                     parse_constant=bad_constant)
                    if not isinstance(rec, dict) or "hash" not in rec:
                        raise ValueError("not a record")
                except ValueError as e:
                    torn.append((where, digest(line), raw.endswith(b"\n"), str(e)))
                    continue
                records += 1
                seq = rec.get("seq")
                where = f"{where} (seq {seq})"
                if torn:
                    named = rec.get("kind") == "bundle" and rec.get("torn") == [t[1] for t in torn]
                    if not named:
                        for t in torn:
                            fail(t[0], f"not a record ({t[3]})")
                    torn = []
                claimed = rec.pop("hash")
                if digest(rfc8785.dumps(rec)) != claimed:
                    fail(where, "the record does not match its hash")
                if last_hash is None:
                    if seq == 0 and rec.get("prev") != GENESIS:
                        fail(where, "the first record's prev is not 64 zeros")
                else:
                    if seq != last_seq + 1:
                        fail(where, f"seq {seq} follows seq {last_seq}")
                    if rec.get("prev") != last_hash:
                        fail(where, "prev is not the hash of the record before it")
                if rec.get("kind") == "checkpoint":
                    checkpoints += 1
                    if rec.get("head") != last_hash or rec.get("count") != seq:
                        fail(where, "the checkpoint's head or count is not the chain's")
                    if keys:
                        key = keys.get(rec.get("keyid"))
                        sig = base64.b64decode(rec.pop("sig"), validate=True)
                        if key is None:
                            fail(where, f"signed by {rec.get('keyid')}, not a key given")
                        else:
                            try:
                                key.verify(sig, rfc8785.dumps(rec))
                            except Exception:
                                fail(where, "the checkpoint's signature does not verify")
                last_hash, last_seq = claimed, seq
    # A line cut short without its newline may end the log: a crash while writing.
    if torn and not (len(torn) >= 1 and not torn[-1][2]):
        for t in torn:
            fail(t[0], f"not a record ({t[3]})")
    if keys and checkpoints == 0:
        fail("the log", "keys were given but there is no checkpoint")
    if failures:
        print(f"{failures} failed checks")
        return 1
    print(f"ok: {records} records, {checkpoints} checkpoints, head {last_hash}")
    if torn:
        print(f"note: the log ends with a line cut short ({torn[-1][0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
