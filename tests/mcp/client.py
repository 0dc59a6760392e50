"""Drives tests/mcp/server.py through tests/mcp/relay.py with the official Python SDK's client.

`client.py MODE AGENT LOG SESSION [CLIENT_LOG SERVER_LOG]`, MODE one of `2025-06-18`,
`2025-11-25` (the initialize handshake) or `2026-07-28` (stateless, no handshake). The same
calls in every mode: two searches, a transfer the user accepts and one the user declines
(elicitation), the client's roots, a summary by the client's model (sampling), and a health
check (a ping from the server on the handshake protocols). Prints one line per call result.
"""

import os
import sys

import anyio
import mcp_types as types

import mcp.client.session
from mcp import Client
from mcp.client.stdio import StdioServerParameters

mode, agent, log, session = sys.argv[1:5]
split = sys.argv[5:7]
here = os.path.dirname(os.path.abspath(__file__))

if mode == "2025-06-18":
    # The SDK offers its newest handshake version; this run offers the older one, as a
    # 2025-06-18 client does.
    mcp.client.session.LATEST_HANDSHAKE_VERSION = "2025-06-18"


async def elicit(ctx, params):
    # The user accepts the transfer to ACME and declines the other one.
    if "ACME" in params.message:
        return types.ElicitResult(action="accept", content={"ok": True})
    return types.ElicitResult(action="decline")


async def roots(ctx):
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])


async def sample(ctx, params):
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="a short summary"), model="test-model"
    )


async def main():
    relay = [os.path.join(here, "relay.py"), log, session, *split, "--", sys.executable, os.path.join(here, "server.py")]
    params = StdioServerParameters(command=sys.executable, args=relay)
    async with Client(
        params,
        mode="2026-07-28" if mode == "2026-07-28" else "legacy",
        client_info=types.Implementation(name=agent, version="0.1"),
        elicitation_callback=elicit,
        list_roots_callback=roots,
        sampling_callback=sample,
    ) as client:
        assert client.protocol_version == mode, (client.protocol_version, mode)
        await client.list_tools()
        calls = [
            ("web_search", {"query": "fx rates"}),
            ("transfer_funds", {"amount": 2500, "to": "ACME"}),
            ("transfer_funds", {"amount": 90000, "to": "Mallory"}),
            ("list_workspace", {}),
            ("summarize", {"text": "quarterly report"}),
            ("health", {}),
            ("web_search", {"query": "weather"}),
        ]
        for name, args in calls:
            result = await client.call_tool(name, args)
            print(name, result.content[0].text if result.content else "", flush=True)


anyio.run(main)
