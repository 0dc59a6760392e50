"""A recording relay for MCP over stdio: `relay.py LOG SESSION [CLIENT_LOG SERVER_LOG] -- CMD…`.

Starts CMD (an MCP server) and passes every line between this process's standard input and
output and the server's, unchanged, writing each message to LOG as an envelope
`{"session": SESSION, "direction": "client->server"|"server->client", "message": …}` in the
order the relay saw it. With CLIENT_LOG and SERVER_LOG it also writes each direction's bare
messages to a file of its own. A message is written before it is passed on, so a response is
always logged after its request.
"""

import json
import subprocess
import sys
import threading

sep = sys.argv.index("--")
paths, command = sys.argv[1:sep], sys.argv[sep + 1 :]
log_path, session = paths[0], paths[1]
split = paths[2:4]
lock = threading.Lock()
log = open(log_path, "w", encoding="utf-8")
sides = {}
if split:
    sides = {
        "client->server": open(split[0], "w", encoding="utf-8"),
        "server->client": open(split[1], "w", encoding="utf-8"),
    }
child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def record(direction, line):
    message = json.loads(line)
    with lock:
        log.write(json.dumps({"session": session, "direction": direction, "message": message}) + "\n")
        log.flush()
        if sides:
            sides[direction].write(json.dumps(message) + "\n")
            sides[direction].flush()


def upstream():
    for line in sys.stdin.buffer:
        if line.strip():
            record("client->server", line)
        child.stdin.write(line)
        child.stdin.flush()
    child.stdin.close()


threading.Thread(target=upstream, daemon=True).start()
for line in child.stdout:
    if line.strip():
        record("server->client", line)
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
child.wait()
