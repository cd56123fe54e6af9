// A closed-loop load generator: `clients` concurrent callers, each sending its next request when its last is answered.
import { Agent, request } from 'node:http';

/** Keep-alive connections, as an integration engine would hold them. */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** What a run measured. */
export interface LoadResult {
  perSecond: number;
  p50: number;
  p99: number;
  seconds: number;
  statuses: Map<number, number>;
  codes: number[];
  bodies: string[];
}

/** One POST over a kept-alive connection: status and body. */
export function post(
  url: string,
  token: string,
  body: string,
  contentType = 'application/json',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends every body once, from `clients` concurrent callers, and measures each answer. */
export async function runLoad(
  url: string,
  token: string,
  bodies: string[],
  clients: number,
  contentType = 'application/json',
): Promise<LoadResult> {
  const latencies: number[] = [];
  const answers: string[] = new Array(bodies.length);
  const codes: number[] = new Array(bodies.length);
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const i = next++;
      const t0 = performance.now();
      const res = await post(url, token, bodies[i]!, contentType);
      latencies.push(performance.now() - t0);
      answers[i] = res.body;
      codes[i] = res.status;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
  return { perSecond: bodies.length / seconds, p50: pct(50), p99: pct(99), seconds, statuses, codes, bodies: answers };
}
