import type { SegmentMessage } from '../workload/segment-message.ts';

/** A request as an SDK sent it: its messages and the sentAt its clock gave the request. */
export interface SentBatch {
  readonly messages: readonly SegmentMessage[];
  /** The batch-level sentAt, epoch ms by the client's clock. */
  readonly sentAt: number;
  /** How far the client's clock was off when it sent the batch (its sentAt minus the real time), ms. */
  readonly clockOffsetMs: number;
}

export interface SdkSendOptions {
  readonly batchSize: number;
  /** How far the client's clock is off for the request with this index (0 = an accurate clock). */
  readonly clockOffsetMs: (request: number) => number;
}

/**
 * Sends messages to ingest's /v1/batch as a Segment-compatible SDK does: in order, one
 * request at a time, the write key as the HTTP Basic user name and a batch-level sentAt
 * read from the client's clock when the request goes out. Every request must be accepted
 * whole (200 with every event accepted): a test that meant to send a copy of each message
 * once must not have the harness retry behind its back.
 */
export async function sendAsSdk(ingestUrl: string, writeKey: string, messages: readonly SegmentMessage[], options: SdkSendOptions): Promise<SentBatch[]> {
  const authorization = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const sent: SentBatch[] = [];
  for (let start = 0; start < messages.length; start += options.batchSize) {
    const batch = messages.slice(start, start + options.batchSize);
    const clockOffsetMs = options.clockOffsetMs(sent.length);
    const sentAt = Date.now() + clockOffsetMs;
    const response = await fetch(`${ingestUrl}/v1/batch`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ batch, sentAt: new Date(sentAt).toISOString() }),
    });
    const text = await response.text();
    const accepted = response.status === 200 ? (JSON.parse(text) as { accepted?: number }).accepted : undefined;
    if (accepted !== batch.length) throw new Error(`request ${sent.length} (${batch.length} events) was not accepted whole: HTTP ${response.status} ${text}`);
    sent.push({ messages: batch, sentAt, clockOffsetMs });
  }
  return sent;
}
