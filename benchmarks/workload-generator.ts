/**
 * How fast the workload generator streams events, and that its memory stays flat as the
 * event count grows (it holds about two days of events, not the whole run).
 *   node --expose-gc benchmarks/workload-generator.ts [members] [days]
 */
import { generateWorkload } from '../test/workload/generator.ts';
import { writeResults } from './results.ts';

const members = Number(process.argv[2] ?? 20_000);
const days = Number(process.argv[3] ?? 180);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc so heap figures are measured after collection');

const samples: { events: number; heapMiB: number }[] = [];
const heapMiB = () => {
  gc();
  return Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10;
};
const started = performance.now();
let events = 0;
let measuringMs = 0;
for (const _event of generateWorkload({ seed: 1, members, days })) {
  events++;
  if (events % 500_000 === 0) {
    const t = performance.now();
    samples.push({ events, heapMiB: heapMiB() });
    measuringMs += performance.now() - t;
  }
}
const seconds = (performance.now() - started - measuringMs) / 1000;
if (samples.at(-1)?.events !== events) samples.push({ events, heapMiB: heapMiB() });
const heap = samples.map((s) => s.heapMiB);
const figures = {
  members,
  days,
  events,
  seconds: Math.round(seconds * 10) / 10,
  eventsPerSecond: Math.round(events / seconds),
  heapMiBAfterGc: { first: heap[0] ?? null, max: heap.length ? Math.max(...heap) : null, last: heap.at(-1) ?? null },
  samples,
};
console.log(
  `workload generator: ${events.toLocaleString('en-US')} events (${members} people, ${days} days) in ${figures.seconds} s = ${figures.eventsPerSecond.toLocaleString('en-US')} events/s`,
);
console.log(`heap after GC every 500k events and at the end (MiB): ${heap.join(', ')}`);
console.log(`written to ${writeResults('workload-generator', figures)}`);
