import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The ingest service's Prometheus metrics, in a registry of its own (no global state). */
export class IngestMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'segstream_ingest_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'],
    registers: [this.registry],
  });
  readonly eventsAccepted = new Counter({
    name: 'segstream_ingest_events_accepted_total',
    help: 'Events stored in Kafka, by type and source',
    labelNames: ['type', 'source'],
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: 'segstream_ingest_events_rejected_total',
    help: 'Events refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly eventsSkipped = new Counter({
    name: 'segstream_ingest_events_skipped_total',
    help: 'Events acknowledged but not stored because segstream keeps no such data (Sensors item events), by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly produceSeconds = new Histogram({
    name: 'segstream_ingest_produce_seconds',
    help: 'Time from sending a produce request to the broker acknowledging it (acks=all)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly brokerErrors = new Counter({
    name: 'segstream_ingest_broker_errors_total',
    help: 'Produce requests the broker did not acknowledge',
    registers: [this.registry],
  });
  readonly pendingEvents = new Gauge({
    name: 'segstream_ingest_pending_events',
    help: 'Events waiting for a broker acknowledgement',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'segstream_ingest_' });
  }
}
