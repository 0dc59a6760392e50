"""Writes an OTLP/JSON export of GenAI spans as `opentelemetry-util-genai` makes them.

Usage: python util_genai.py OUT.jsonl

Two conversations of an in-process agent, instrumented the way the util's own documentation
shows: `invoke_local_agent` around model calls (`inference`) and tool calls (`tool`), one call to
a remote agent. Spans go through the SDK's SimpleSpanProcessor to the OTLP JSON file exporter,
so each span is its own export request, written when it ends: children before their parents.
The caller sets OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (tool arguments are recorded
only with content capture on) and OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (which cuts long arguments).
"""

import sys

from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.util.genai.handler import TelemetryHandler

provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(sys.argv[1])))
handler = TelemetryHandler(tracer_provider=provider)


def chat(tokens_in, tokens_out):
    with handler.inference("openai", request_model="gpt-4o") as call:
        call.input_tokens = tokens_in
        call.output_tokens = tokens_out


def tool(name, args):
    with handler.tool(name, tool_type="function") as call:
        call.arguments = args
        call.tool_result = "ok"


with handler.invoke_local_agent(
    agent_name="support", request_model="gpt-4o", conversation_id="conv-7f3a"
):
    chat(812, 40)
    tool("file_read", {"path": "/srv/kb/faq.md"})
    chat(1290, 35)
    tool("file_read", {"path": "/app/.env"})
    chat(1377, 52)
    # Longer than the attribute length limit the caller sets: the SDK cuts it.
    tool("web_search", {"query": "refund policy " + "for orders shipped abroad " * 12})
    with handler.invoke_remote_agent("openai", agent_name="billing"):
        pass

with handler.invoke_local_agent(agent_name="research", conversation_id="conv-9b21"):
    chat(300, 20)
    tool("web_search", {"query": "agent security survey"})

provider.shutdown()
