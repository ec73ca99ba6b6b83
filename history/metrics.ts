import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class HistoryMetrics {
  readonly registry = new Registry();
  readonly records = new Counter({
    name: 'segstream_history_records_total',
    help: 'Records read from Kafka, by topic and outcome (buffered, dead_letter)',
    labelNames: ['topic', 'outcome'],
    registers: [this.registry],
  });
  readonly rowsWritten = new Counter({
    name: 'segstream_history_rows_written_total',
    help: 'Rows written to ClickHouse (events, identity changes, lifecycle transitions, segment changes, trigger firings)',
    registers: [this.registry],
  });
  readonly flushes = new Counter({
    name: 'segstream_history_flushes_total',
    help: 'Inserts of buffered rows, by outcome (ok, failed); a failed one keeps its rows for the next',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly flushSeconds = new Histogram({
    name: 'segstream_history_flush_seconds',
    help: 'How long writing one batch of buffered rows took',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'segstream_history_consumer_lag',
    help: 'Records behind the high watermark, per topic and partition',
    labelNames: ['topic', 'partition'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'segstream_history_' });
  }
}
