import type { WorkloadEvent } from '../../test/workload/segment-message.ts';

const BATCH = 250;
const CONCURRENCY = 1;

export interface SendReport {
  readonly requests: number;
  readonly accepted: number;
  readonly failures: string[];
}

/**
 * Sends the workload to an ingest service as an SDK would: /v1/batch requests with the
 * write key as the HTTP Basic user name, a few in flight, retrying 429/503 after Retry-After.
 */
export async function sendWorkload(
  ingestUrl: string,
  writeKey: string,
  events: Iterable<WorkloadEvent>,
  onEvent: (e: WorkloadEvent) => void,
): Promise<SendReport> {
  const authorization = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  let requests = 0;
  let accepted = 0;
  const failures: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const post = async (batch: WorkloadEvent['message'][]) => {
    for (let attempt = 1; ; attempt++) {
      requests++;
      const response = await fetch(`${ingestUrl}/v1/batch`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
      });
      const body = (await response.json()) as { accepted?: number; message?: string };
      if (response.status === 200) {
        accepted += body.accepted ?? 0;
        return;
      }
      if ((response.status === 429 || response.status === 503) && attempt < 10) {
        await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after') ?? 1) * 1000));
        continue;
      }
      accepted += body.accepted ?? 0;
      failures.push(`HTTP ${response.status}: ${body.message ?? 'no message'}`);
      return;
    }
  };
  let batch: WorkloadEvent['message'][] = [];
  const flush = async () => {
    const request = post(batch).finally(() => inFlight.delete(request));
    inFlight.add(request);
    batch = [];
    if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
  };
  for (const event of events) {
    onEvent(event);
    batch.push(event.message);
    if (batch.length >= BATCH) await flush();
  }
  if (batch.length > 0) await flush();
  await Promise.all(inFlight);
  return { requests, accepted, failures };
}
