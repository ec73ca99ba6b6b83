/**
 * A steady event load posted to ingest's /v1/batch, in a process of its own so that its
 * event loop adds nothing to what the latency benchmark observes. Message ids are
 * `<prefix>-<sequence>`; users are `<prefix>-user-<n>` drawn in turn from a pool, so every
 * user keeps sending.
 *   node benchmarks/support/http-load.ts <ingest url> <write key> <events/s> <seconds> <events per request> <users> <prefix> <first sequence>
 * Prints one JSON line: { requests: [[first sequence, events, sentAt, answeredAt, status], ...] }
 * with times in ms on the machine's wall clock (performance.timeOrigin + performance.now()).
 */
import { setTimeout as sleep } from 'node:timers/promises';

const [url = '', writeKey = '', rateText = '1000', secondsText = '10', perRequestText = '10', usersText = '10000', prefix = 'load', firstText = '0'] =
  process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const perRequest = Number(perRequestText);
const users = Number(usersText);
const now = () => performance.timeOrigin + performance.now();
const headers = { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' };

const requests: [number, number, number, number, number][] = [];
const inFlight = new Set<Promise<void>>();
let sequence = Number(firstText);
const requestsPerSecond = rate / perRequest;
const started = performance.now();
let issued = 0;
while (performance.now() - started < seconds * 1000) {
  // Requests due by now go out; then sleep until the next one is due.
  const due = Math.floor(((performance.now() - started) / 1000) * requestsPerSecond) + 1;
  while (issued < due) {
    const first = sequence;
    const batch = Array.from({ length: perRequest }, () => {
      const n = sequence++;
      return {
        type: 'track',
        messageId: `${prefix}-${n}`,
        userId: `${prefix}-user-${n % users}`,
        event: 'Product Viewed',
        properties: { product_id: `p-${n % 500}`, price: 19.9, currency: 'EUR' },
      };
    });
    const sentAt = now();
    const request = fetch(url, { method: 'POST', headers, body: JSON.stringify({ batch }) }).then(
      async (response) => {
        await response.arrayBuffer();
        requests.push([first, perRequest, sentAt, now(), response.status]);
      },
      () => {
        requests.push([first, perRequest, sentAt, now(), 0]);
      },
    );
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
    issued++;
  }
  await sleep(Math.max(0, started + (issued / requestsPerSecond) * 1000 - performance.now()));
}
await Promise.all(inFlight);
console.log(JSON.stringify({ requests, seconds: (performance.now() - started) / 1000 }));
