"""A small MCP server written with the official Python SDK, for govern's tests.

Its tools exercise what a policy reader of MCP traffic must get right: plain calls, a call that
asks the user (elicitation), one that asks for the client's roots, one that asks the client's
model (sampling), and one that pings the client. On the handshake protocols (2025-06-18,
2025-11-25) the SDK sends those as requests from the server with ids of its own; on 2026-07-28 it
answers `resultType: "input_required"` and the client retries the same call.
"""

from typing import Annotated

import anyio

import mcp_types as types
from pydantic import BaseModel

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    ListRoots,
    MCPServer,
    Resolve,
    Sample,
)

server = MCPServer("demo-bank", version="1.0.0")


class Confirm(BaseModel):
    ok: bool


def ask(amount: float, to: str):
    return Elicit(f"Transfer {amount:g} to {to}?", Confirm)


def roots():
    return ListRoots()


def summary(text: str):
    return Sample(
        [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=f"Summarize: {text}"))],
        max_tokens=50,
    )


@server.tool()
async def web_search(query: str) -> str:
    """Search the web."""
    if query.startswith("wait "):
        # A slow search: `wait N` answers after N seconds.
        await anyio.sleep(float(query.split()[1]))
    return f"results for {query}"


@server.tool()
def transfer_funds(
    amount: float,
    to: str,
    confirm: Annotated[ElicitationResult[Confirm], Resolve(ask)],
) -> str:
    """Move money, once the user confirms."""
    if isinstance(confirm, AcceptedElicitation) and confirm.data.ok:
        return f"sent {amount:g} to {to}"
    return "transfer cancelled"


@server.tool()
def list_workspace(r: Annotated[types.ListRootsResult, Resolve(roots)]) -> str:
    """List the client's roots."""
    return ",".join(str(x.uri) for x in r.roots)


@server.tool()
def summarize(text: str, s: Annotated[types.CreateMessageResult, Resolve(summary)]) -> str:
    """Summarize a text with the client's model."""
    return s.content.text if isinstance(s.content, types.TextContent) else ""


@server.tool()
async def health(ctx: Context) -> str:
    """Check that the client is there (a ping from the server on the handshake protocols)."""
    if ctx.protocol_version != "2026-07-28":
        await ctx.session.send_ping()
    return "ok"


if __name__ == "__main__":
    server.run()
