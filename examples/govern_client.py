#!/usr/bin/env python3
"""Ask govern before a tool runs: a tool wrapper in Python's standard library alone.

Two ways to reach the decision point, with the same interface:

- ``ServeClient``: ``govern serve`` over HTTP (TCP or a Unix socket), one keep-alive
  connection per client;
- ``EvalCoprocess``: one ``govern eval`` child process, one JSON line written and one
  decision line read per event (eval flushes each decision at once on a pipe).

``guarded(decide, tool, fn)`` wraps a tool function: it builds the event, asks, and calls the
tool only on ``allow``. ``deny`` and ``escalate`` raise ``Refused`` (an escalation needs a
human: this wrapper does not wait for one). Anything unexpected -- no answer, a malformed
answer, an HTTP error -- is a refusal too: fail closed.

Run it as a program to try it::

    govern build policies/ -o policies.govb
    govern serve --bundle policies.govb &
    python3 examples/govern_client.py serve 127.0.0.1:8787 < events.jsonl
    python3 examples/govern_client.py eval policies.govb < events.jsonl

Each event read from standard input is decided, and one line per event says whether the
tool would have run (``ran``) or was refused (``refused deny: reason``).
"""

import http.client
import json
import socket
import subprocess
import sys


class Refused(Exception):
    """The decision point did not allow the call."""

    def __init__(self, verdict, reason, decision):
        super().__init__(f"{verdict}: {reason}")
        self.verdict = verdict
        self.reason = reason
        self.decision = decision


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class ServeClient:
    """Decisions from ``govern serve`` at ``host:port`` or ``unix:/path``."""

    def __init__(self, address, timeout=5.0):
        self._address = address
        self._timeout = timeout
        self._conn = None

    def _connect(self):
        if self._address.startswith("unix:"):
            return _UnixConnection(self._address[len("unix:"):], self._timeout)
        host, _, port = self._address.rpartition(":")
        return http.client.HTTPConnection(host, int(port), timeout=self._timeout)

    def decide(self, event):
        """The decision (a dict) on ``event``; raises on any failure to get one."""
        body = json.dumps(event).encode()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request(
                    "POST", "/v1/decide", body=body,
                    headers={"Content-Type": "application/json"})
                resp = self._conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                # A keep-alive connection the server closed (idle, draining): once more on
                # a new one, then give up.
                self.close()
                if attempt == 2:
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            decision = json.loads(data)
            if resp.status != 200:
                # 4xx/5xx carry a deny decision saying why.
                decision.setdefault("decision", "deny")
            return decision
        raise ConnectionError("unreachable")

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class EvalCoprocess:
    """Decisions from one ``govern eval --bundle BUNDLE`` child process."""

    def __init__(self, bundle, govern="govern", extra=()):
        self._proc = subprocess.Popen(
            [govern, "eval", "--bundle", bundle, *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def decide(self, event):
        # One line out, one line back: no newline may hide inside the event's JSON.
        self._proc.stdin.write(json.dumps(event) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise ConnectionError("govern eval stopped")
        return json.loads(line)

    def close(self):
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait()


def check(decision):
    """Raises ``Refused`` unless ``decision`` allows."""
    verdict = decision.get("decision") if isinstance(decision, dict) else None
    if verdict == "allow":
        return
    if verdict not in ("deny", "escalate"):
        verdict = "deny"
    reason = "; ".join(decision.get("messages") or []) if isinstance(decision, dict) else ""
    if not reason and isinstance(decision, dict):
        reason = decision.get("error") or ", ".join(decision.get("rules") or [])
    raise Refused(verdict, reason or "no reason given", decision)


def guarded(decide, tool, fn, agent=None):
    """``fn`` wrapped: called with its keyword arguments only when the decision allows."""

    def call(**args):
        event = {"action": "tool_call", "tool": tool, "args": args}
        if agent is not None:
            event["agent"] = agent
        try:
            decision = decide(event)
        except Exception as e:  # no answer is a refusal
            raise Refused("deny", f"no decision: {e}", None) from e
        check(decision)
        return fn(**args)

    return call


def main(argv):
    if len(argv) != 3 or argv[1] not in ("serve", "eval"):
        print(__doc__, file=sys.stderr)
        return 2
    client = ServeClient(argv[2]) if argv[1] == "serve" else EvalCoprocess(argv[2])
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            event = json.loads(line)
            try:
                decision = client.decide(event)
                check(decision)
                print("ran")
            except Refused as r:
                print(f"refused {r.verdict}: {r.reason}")
            except Exception as e:
                print(f"refused deny: no decision: {e}")
            sys.stdout.flush()
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
