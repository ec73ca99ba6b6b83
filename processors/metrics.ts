import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

// Fine below 0.1 s, where per-event latency should be, so percentiles interpolate well.
const LATENCY_BUCKETS_SECONDS = [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ProcessorMetrics {
  readonly registry = new Registry();
  readonly events = new Counter({
    name: 'segstream_processor_events_total',
    help: 'Events by outcome: applied, duplicate, dead_letter',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'segstream_processor_dead_letters_total',
    help: 'Records sent to the dead-letter topic, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'segstream_processor_consumer_lag',
    help: 'Records behind the high watermark, per partition',
    labelNames: ['partition'],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'segstream_processor_latency_seconds',
    help: 'From ingest receiving an event to its state being updated',
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });
  readonly applyLatency = new Histogram({
    name: 'segstream_processor_apply_latency_seconds',
    help: 'From the processor fetching an event from Kafka to its state being updated',
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });
  readonly activeRules = new Gauge({
    name: 'segstream_processor_active_rules',
    help: 'Rules the processor evaluates now (reloaded within PROCESSOR_RULES_POLL_MS of a change), per kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly eventTime = new Gauge({
    name: 'segstream_processor_event_time_seconds',
    help: 'The event time timers fire up to (lowest stream time over every partition, less the allowed lateness), as a Unix time',
    registers: [this.registry],
  });
  readonly timersDue = new Counter({ name: 'segstream_processor_timers_due_total', help: 'Lifecycle checks that fell due', registers: [this.registry] });
  readonly timersFired = new Counter({
    name: 'segstream_processor_timers_fired_total',
    help: 'Lifecycle transitions caused by time alone',
    registers: [this.registry],
  });
  readonly outputs = new Counter({
    name: 'segstream_processor_outputs_total',
    help: 'Records published, by topic',
    labelNames: ['topic'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'segstream_processor_' });
  }
}
