"""A tap on an MCP stdio connection: `tap.py LOG -- CMD…`.

Starts CMD and passes every line between this process's standard input and output and CMD's,
unchanged, writing each to LOG as `{"direction": "client->server"|"server->client", "line": …}`
with the line's exact text (without its newline), before it is passed on. Placed between a
client and `govern mcp-proxy`, and between the proxy and the server, it shows what each side
really sent and received.
"""

import json
import subprocess
import sys
import threading

sep = sys.argv.index("--")
log_path, command = sys.argv[1], sys.argv[sep + 1 :]
lock = threading.Lock()
log = open(log_path, "w", encoding="utf-8")
child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def record(direction, line):
    text = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
    with lock:
        log.write(json.dumps({"direction": direction, "line": text}) + "\n")
        log.flush()


def upstream():
    for line in sys.stdin.buffer:
        record("client->server", line)
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()


threading.Thread(target=upstream, daemon=True).start()
for line in child.stdout:
    record("server->client", line)
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
sys.exit(child.wait())
