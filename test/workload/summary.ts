import type { WorkloadEvent } from './segment-message.ts';

/** Totals over a workload, for the demo's report and for checks against what the engine saw. */
export interface WorkloadSummary {
  events: number;
  people: number;
  identifiedPeople: number;
  /** People with at least one order. */
  buyers: number;
  byType: Record<string, number>;
  byEvent: Record<string, number>;
  orders: number;
  revenueCents: number;
  refunds: number;
  refundedCents: number;
  firstAt: number | null;
  lastAt: number | null;
}

export function emptySummary(): WorkloadSummary {
  return {
    events: 0,
    people: 0,
    identifiedPeople: 0,
    buyers: 0,
    byType: {},
    byEvent: {},
    orders: 0,
    revenueCents: 0,
    refunds: 0,
    refundedCents: 0,
    firstAt: null,
    lastAt: null,
  };
}

/** The people a summary has counted, carried across calls of addToSummary. */
export interface SummarySeen {
  readonly people: Set<number>;
  readonly identified: Set<number>;
  readonly buyers: Set<number>;
}

export function emptySeen(): SummarySeen {
  return { people: new Set(), identified: new Set(), buyers: new Set() };
}

/** Folds one event into the summary; `seen` tracks people across calls. */
export function addToSummary(summary: WorkloadSummary, event: WorkloadEvent, seen: SummarySeen): void {
  const { message } = event;
  summary.events++;
  summary.byType[message.type] = (summary.byType[message.type] ?? 0) + 1;
  if (message.event) summary.byEvent[message.event] = (summary.byEvent[message.event] ?? 0) + 1;
  if (!seen.people.has(event.person)) {
    seen.people.add(event.person);
    summary.people++;
  }
  if (message.userId && !seen.identified.has(event.person)) {
    seen.identified.add(event.person);
    summary.identifiedPeople++;
  }
  const total = Math.round(Number(message.properties?.total ?? 0) * 100);
  if (message.event === 'Order Completed') {
    summary.orders++;
    if (!seen.buyers.has(event.person)) {
      seen.buyers.add(event.person);
      summary.buyers++;
    }
    summary.revenueCents += total;
  } else if (message.event === 'Order Refunded') {
    summary.refunds++;
    summary.refundedCents += total;
  }
  summary.firstAt = summary.firstAt === null ? event.at : Math.min(summary.firstAt, event.at);
  summary.lastAt = summary.lastAt === null ? event.at : Math.max(summary.lastAt, event.at);
}

export function summarize(events: Iterable<WorkloadEvent>): WorkloadSummary {
  const summary = emptySummary();
  const seen = emptySeen();
  for (const event of events) addToSummary(summary, event, seen);
  return summary;
}
