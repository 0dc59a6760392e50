"""tests/mcp/server.py (written with the official Python SDK) on the SDK's Streamable HTTP
transport, for govern's tests:
`http_server.py RECEIVED [--json-response] [--stateless] [--tls DIR [--tls-name NAME]]`.

Listens on 127.0.0.1 on a free port and prints `PORT n` once it accepts connections. Every
request it receives is appended to RECEIVED as `{"method": …, "session": …, "body": …}` (the
body's exact text), before the SDK handles it: what reached the server, whatever the client
was told; and each message it sends back (a JSON body, or an SSE stream's `data`) as
`{"sent": …}`, its exact text. `--json-response` answers each POST with one JSON body instead of an SSE stream;
`--stateless` runs without sessions. `--tls DIR` serves https: it makes a CA (written to
DIR/ca.pem, for the client to trust) and a certificate it signs for NAME (default `127.0.0.1`
and `localhost`; give another name to serve a certificate that is not the URL's host).
"""

import json
import os
import socket
import sys

import anyio
import uvicorn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import server  # noqa: E402

received_path = sys.argv[1]
json_response = "--json-response" in sys.argv
stateless = "--stateless" in sys.argv
tls_dir = sys.argv[sys.argv.index("--tls") + 1] if "--tls" in sys.argv else None
tls_name = sys.argv[sys.argv.index("--tls-name") + 1] if "--tls-name" in sys.argv else None
received = open(received_path, "a", encoding="utf-8")


def record_sent(content_type, body):
    """Each message the server sent in one answer, as its exact text."""
    text = body.decode("utf-8", "surrogateescape")
    if content_type.startswith("text/event-stream"):
        messages = [l[len("data: ") :] for l in text.splitlines() if l.startswith("data: ")]
    elif content_type.startswith("application/json") and text:
        messages = [text]
    else:
        messages = []
    for m in messages:
        if m.strip():
            received.write(json.dumps({"sent": m}) + "\n")
    received.flush()


def recorded(app):
    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        received.write(
            json.dumps(
                {
                    "method": scope["method"],
                    "session": headers.get("mcp-session-id"),
                    "body": body.decode("utf-8", "surrogateescape"),
                }
            )
            + "\n"
        )
        received.flush()
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = {"code": 0, "type": "", "body": []}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                for k, v in message.get("headers", []):
                    if k.decode("latin-1").lower() == "content-type":
                        status["type"] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                status["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    record_sent(status["type"], b"".join(status["body"]))
            await send(message)

        return await app(scope, replay, sending)

    return wrapped


def make_certificates(directory, name):
    """A CA (DIR/ca.pem) and a server certificate it signs (DIR/server.pem, DIR/server.key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govern test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    if name is None:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        cn = "127.0.0.1"
    else:
        names = [x509.DNSName(name)]
        cn = name
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    with open(os.path.join(directory, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(directory, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(directory, "server.key"), "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


async def main():
    app = server.streamable_http_app(json_response=json_response, stateless_http=stateless)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    tls = {}
    if tls_dir is not None:
        make_certificates(tls_dir, tls_name)
        tls = {
            "ssl_certfile": os.path.join(tls_dir, "server.pem"),
            "ssl_keyfile": os.path.join(tls_dir, "server.key"),
        }
    config = uvicorn.Config(recorded(app), log_level="warning", lifespan="on", **tls)
    srv = uvicorn.Server(config)
    port = sock.getsockname()[1]

    async def announce():
        while not srv.started:
            await anyio.sleep(0.02)
        print(f"PORT {port}", flush=True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        await srv.serve(sockets=[sock])
        tg.cancel_scope.cancel()


anyio.run(main)
