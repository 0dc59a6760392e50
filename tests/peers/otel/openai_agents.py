"""Writes an OTLP/JSON export of an OpenAI Agents SDK run, as the OpenTelemetry
`opentelemetry-instrumentation-openai-agents-v2` instrumentation makes it.

Usage: python openai_agents.py OUT.jsonl

A `support` agent reads a file and hands off to a `billing` agent, which moves money. The
model is a fake OpenAI chat-completions endpoint on 127.0.0.1 (an ephemeral port, started and
stopped here), answering with the tool calls of this script; everything else is the real SDK
and the real instrumentation, exported through the SDK's BatchSpanProcessor to the OTLP JSON
file exporter. The caller sets OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only.
"""

import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def called(messages, name):
    return any(
        call["function"]["name"] == name
        for m in messages
        if m.get("role") == "assistant"
        for call in m.get("tool_calls") or []
    )


class FakeModel(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        messages = body["messages"]
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        call = None
        if system.startswith("support") and not called(messages, "file_read"):
            call = ("file_read", {"path": "/srv/orders/4411.json"})
        elif system.startswith("support") and not called(messages, "transfer_to_billing"):
            call = ("transfer_to_billing", {})
        elif system.startswith("billing") and not called(messages, "transfer_funds"):
            call = ("transfer_funds", {"amount": 20, "to": "ACME GmbH", "currency": "EUR"})
        if call:
            n = sum(1 for m in messages if m.get("role") == "assistant")
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_%d" % n,
                        "type": "function",
                        "function": {"name": call[0], "arguments": json.dumps(call[1])},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": "Refunded 20 EUR."}
            finish = "stop"
        data = json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 210, "completion_tokens": 18, "total_tokens": 228},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
threading.Thread(target=server.serve_forever, daemon=True).start()

from opentelemetry.exporter.otlp.json.file import FileSpanExporter  # noqa: E402
from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402

provider = TracerProvider(resource=Resource.create({"service.name": "support-app"}))
provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(sys.argv[1])))
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)

from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool  # noqa: E402
from agents.tracing import set_tracing_disabled  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

client = AsyncOpenAI(
    base_url="http://127.0.0.1:%d/v1" % server.server_address[1], api_key="test", max_retries=0
)
model = OpenAIChatCompletionsModel(model="gpt-4o", openai_client=client)


@function_tool
def file_read(path: str) -> str:
    """Reads a file."""
    return '{"order": 4411, "total": 20}'


@function_tool
def transfer_funds(amount: float, to: str, currency: str) -> str:
    """Moves money."""
    return "done"


billing = Agent(name="billing", instructions="billing: refunds", model=model, tools=[transfer_funds])
support = Agent(
    name="support", instructions="support: answers", model=model, tools=[file_read], handoffs=[billing]
)


async def main():
    result = await Runner.run(
        support,
        "Please refund order 4411.",
        run_config=RunConfig(workflow_name="refund", group_id="conv-4411"),
    )
    assert result.final_output == "Refunded 20 EUR.", result.final_output


asyncio.run(main())
provider.shutdown()
server.shutdown()
