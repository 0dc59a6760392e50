"""Drives tests/mcp/server.py behind `govern mcp-proxy` with the official Python SDK's client.

`proxy_client.py MODE AGENT CLIENT_TAP SERVER_TAP -- PROXY_ARGS…`, MODE one of `2025-06-18`,
`2025-11-25` (the initialize handshake) or `2026-07-28` (stateless). The client starts
`tap.py CLIENT_TAP -- govern mcp-proxy PROXY_ARGS… -- tap.py SERVER_TAP -- python server.py`
(`govern` is `$GOVERN_BIN`), so the taps record what the client and the server really sent and
received. It lists the tools, then makes the same calls in every mode, and prints one JSON line
per step: the tool names listed, then each call's name and outcome (`error` for a JSON-RPC
error, else `is_error` and `text`). `proxy_client.py MODE AGENT --url URL` does the same over
Streamable HTTP with a proxy (or the server) already listening at URL.

The user approves the gateway's question about the transfer to ACME and declines the one about
Mallory; the server's own confirmation is always accepted.
"""

import json
import os
import sys

import anyio
import mcp_types as types

import mcp.client.session
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters

url = None
if sys.argv[3] == "--url":
    # Over Streamable HTTP, to a proxy (or a server) already listening.
    mode, agent, url = sys.argv[1], sys.argv[2], sys.argv[4]
else:
    sep = sys.argv.index("--")
    mode, agent, client_tap, server_tap = sys.argv[1:sep]
    proxy_args = sys.argv[sep + 1 :]
here = os.path.dirname(os.path.abspath(__file__))
govern = os.environ.get("GOVERN_BIN", "govern")
asked = []

if mode == "2025-06-18":
    mcp.client.session.LATEST_HANDSHAKE_VERSION = "2025-06-18"


async def elicit(ctx, params):
    asked.append(params.message)
    if params.message.startswith("Policy:"):
        # The gateway asks for approval.
        if "ACME" in params.message:
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")
    # The server's own confirmation.
    return types.ElicitResult(action="accept", content={"ok": True})


async def roots(ctx):
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])


async def sample(ctx, params):
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="a short summary"), model="test-model"
    )


def out(v):
    print(json.dumps(v), flush=True)


async def main():
    if url is None:
        server = [os.path.join(here, "tap.py"), server_tap, "--", sys.executable, os.path.join(here, "server.py")]
        proxy = [govern, "mcp-proxy", *proxy_args, "--", sys.executable, *server]
        tap = [os.path.join(here, "tap.py"), client_tap, "--", *proxy]
        params = StdioServerParameters(command=sys.executable, args=tap)
    else:
        params = url
    async with Client(
        params,
        mode="2026-07-28" if mode == "2026-07-28" else "legacy",
        client_info=types.Implementation(name=agent, version="0.1"),
        elicitation_callback=elicit,
        list_roots_callback=roots,
        sampling_callback=sample,
    ) as client:
        assert client.protocol_version == mode, (client.protocol_version, mode)
        listed = await client.list_tools()
        out({"tools": [t.name for t in listed.tools]})
        calls = [
            ("web_search", {"query": "fx rates"}),
            ("summarize", {"text": "quarterly report"}),
            ("transfer_funds", {"amount": 2500, "to": "ACME"}),
            ("transfer_funds", {"amount": 90000, "to": "Mallory"}),
            ("web_search", {"query": "secret plans"}),
            ("health", {}),
        ]
        if "MCP_CALLS" in os.environ:
            # Another list of [name, arguments] pairs.
            calls = [tuple(c) for c in json.loads(os.environ["MCP_CALLS"])]
        for name, args in calls:
            try:
                result = await client.call_tool(name, args)
            except MCPError as e:
                out({"call": name, "error": str(e)})
                continue
            text = result.content[0].text if result.content else ""
            out({"call": name, "is_error": bool(result.is_error), "text": text})
        out({"asked": asked})


anyio.run(main)
