import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request. */
export type FaultAction =
  | 'forward'
  | 'reset-before'
  | 'reset-after'
  | { status: number; headers?: Record<string, string> }
  /** Runs `before` (e.g. a clinician's edit on the real server), then forwards `body` (default: the request's own). */
  | { before?: () => Promise<void>; body?: unknown };

/**
 * A loopback proxy in front of a real FHIR server that injects faults per request: the connection
 * reset after the server committed is a fault no real server shows on demand.
 */
export async function startFaultProxy(target: string, decide: (body: any, req: IncomingMessage) => FaultAction) {
  let committed: Promise<void> = Promise.resolve();
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const action = decide(raw ? JSON.parse(raw) : undefined, req);
    if (action === 'reset-before') {
      req.socket.destroy();
      return;
    }
    if (typeof action === 'object' && 'status' in action) {
      res
        .writeHead(action.status, { 'Content-Type': 'application/fhir+json', ...action.headers })
        .end('{"resourceType":"OperationOutcome","issue":[]}');
      return;
    }
    let body = raw || undefined;
    if (typeof action === 'object') {
      await action.before?.();
      if (action.body !== undefined) body = JSON.stringify(action.body);
    }
    const forwarded = fetch(`${target}${req.url}`, {
      method: req.method,
      headers: { authorization: req.headers.authorization ?? '', 'content-type': req.headers['content-type'] ?? 'application/fhir+json' },
      body,
    });
    if (action === 'reset-after') {
      committed = forwarded.then(() => undefined);
      await committed;
      req.socket.destroy();
      return;
    }
    const answer = await forwarded;
    res
      .writeHead(answer.status, { 'Content-Type': answer.headers.get('content-type') ?? 'application/fhir+json' })
      .end(await answer.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Settles once the last reset-after transaction was committed by the real server. */
    committed: () => committed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
