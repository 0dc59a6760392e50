// Writes the OTLP/JSON export requests the OpenTelemetry JavaScript SDK's OTLP/HTTP exporter
// sends, as a collector would receive them: one request per line.
//
// Usage: node js_sdk.mjs OUT.jsonl
//
// A JavaScript agent instrumented by hand with the GenAI semantic conventions: an
// `invoke_agent` span holding the conversation, model and tool calls beneath it, and a call to a
// remote agent. The SDK cuts attribute values at 120 characters (attributeValueLengthLimit),
// which cuts one tool call's arguments. The exporter posts to an HTTP server on 127.0.0.1 (an
// ephemeral port, started and stopped here) that writes each request body.
import fs from 'node:fs';
import http from 'node:http';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const out = fs.openSync(process.argv[2], 'w');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    fs.writeSync(out, Buffer.concat(chunks).toString('utf8').trim() + '\n');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'research-agent-js' }),
  spanLimits: { attributeValueLengthLimit: 120 },
  spanProcessors: [
    new BatchSpanProcessor(
      new OTLPTraceExporter({ url: `http://127.0.0.1:${server.address().port}/v1/traces` }),
    ),
  ],
});
const tracer = provider.getTracer('research-agent', '1.0.0');

function child(parent, name, kind, attributes) {
  const span = tracer.startSpan(name, { kind, attributes }, trace.setSpan(context.active(), parent));
  span.end();
}

const agent = tracer.startSpan('invoke_agent research', {
  kind: SpanKind.INTERNAL,
  attributes: {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'research',
    'gen_ai.agent.id': 'research-js',
    'gen_ai.conversation.id': 'conv-js-31',
  },
});
child(agent, 'chat gpt-4o', SpanKind.CLIENT, {
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': 'gpt-4o',
  'gen_ai.usage.input_tokens': 640,
  'gen_ai.usage.output_tokens': 48,
});
child(agent, 'execute_tool web_search', SpanKind.INTERNAL, {
  'gen_ai.operation.name': 'execute_tool',
  'gen_ai.tool.name': 'web_search',
  'gen_ai.tool.call.arguments': JSON.stringify({ query: 'agent sandboxing' }),
});
child(agent, 'execute_tool http_request', SpanKind.INTERNAL, {
  'gen_ai.operation.name': 'execute_tool',
  'gen_ai.tool.name': 'http_request',
  'gen_ai.tool.call.arguments': JSON.stringify({
    url: 'https://papers.example.org/search?q=' + 'agent+sandboxing+'.repeat(8),
    method: 'GET',
  }),
});
child(agent, 'invoke_agent summarizer', SpanKind.CLIENT, {
  'gen_ai.operation.name': 'invoke_agent',
  'gen_ai.agent.name': 'summarizer',
});
agent.end();
await provider.shutdown();
server.close();
fs.closeSync(out);
