import { Worker } from 'node:worker_threads';
import { errorMessage } from '../lib/errors.ts';
import type { loadTopicSetup } from '../lib/kafka/codecs.ts';
import type { WarehouseConfig } from '../lib/warehouse/open.ts';
import type { QueryParams, Warehouse } from '../lib/warehouse/warehouse.ts';
import type { HistoryBatch, HistorySink } from './history-writer.ts';

/** What the history thread needs to open the warehouse and decode events. */
export type HistoryThreadSettings = WarehouseConfig & Parameters<typeof loadTopicSetup>[0];

export type HistoryThreadRequest = { readonly id: number } & (
  | { readonly op: 'query' | 'command'; readonly sql: string; readonly params: QueryParams }
  | { readonly op: 'insert'; readonly table: string; readonly rows: readonly Record<string, unknown>[] }
  | { readonly op: 'history'; readonly batch: HistoryBatch }
  | { readonly op: 'close' }
);

/** Request 0 is the thread's start: it answers with the warehouse's kind and database. */
export type HistoryThreadResponse = { readonly id: number } & ({ readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string });

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The history service's warehouse, in a thread of its own (history-thread-worker.ts):
 * history writes and queries are posted there, so the thread consuming Kafka and
 * answering reads only hands them over. Implements Warehouse for everything else in the
 * service (migrations, the analyses it serves).
 */
export class HistoryThread implements Warehouse, HistorySink {
  readonly kind: Warehouse['kind'];
  readonly database: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #onFailure: (error: Error) => void;
  #nextId = 1;
  #exited: Error | undefined;
  #closing = false;

  private constructor(worker: Worker, started: { kind: Warehouse['kind']; database: string }, onFailure: (error: Error) => void) {
    this.#worker = worker;
    this.#onFailure = onFailure;
    this.kind = started.kind;
    this.database = started.database;
    worker.on('message', (response: HistoryThreadResponse) => this.#settle(response));
    worker.on('error', (error: unknown) => this.#fail(new Error(`the history thread failed: ${errorMessage(error)}`)));
    worker.on('exit', (code) => this.#fail(new Error(`the history thread has stopped (exit code ${code})`)));
  }

  /** `onFailure` hears of the thread stopping other than by close(): from then on nothing is written until the service restarts. */
  static async start(settings: HistoryThreadSettings, onFailure: (error: Error) => void = () => {}): Promise<HistoryThread> {
    if (!settings.CLICKHOUSE_URL) {
      // chdb's native library must outlive the thread: unloaded together with the thread's
      // environment, it crashes the process on exit. Loading it here too keeps it loaded.
      await import('chdb');
    }
    const worker = new Worker(new URL('./history-thread-worker.ts', import.meta.url), { workerData: settings });
    const started = new Promise<{ kind: Warehouse['kind']; database: string }>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the history thread stopped while opening ClickHouse (exit code ${code})`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (response: HistoryThreadResponse) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (response.ok) resolve(response.value as { kind: Warehouse['kind']; database: string });
        else reject(new Error(response.error));
      });
    });
    try {
      return new HistoryThread(worker, await started, onFailure);
    } catch (error) {
      await worker.terminate();
      throw error;
    }
  }

  write(batch: HistoryBatch): Promise<void> {
    return this.#request<void>({ op: 'history', batch });
  }

  query<Row = Record<string, unknown>>(sql: string, params: QueryParams = {}): Promise<Row[]> {
    return this.#request<Row[]>({ op: 'query', sql, params });
  }

  command(sql: string, params: QueryParams = {}): Promise<void> {
    return this.#request<void>({ op: 'command', sql, params });
  }

  insert(table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
    return this.#request<void>({ op: 'insert', table, rows });
  }

  /** The reason the thread stopped unexpectedly, if it did (the service is then not ready). */
  get failure(): Error | undefined {
    return this.#closing ? undefined : this.#exited;
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    this.#closing = true;
    await this.#request<void>({ op: 'close' });
    await this.#worker.terminate();
  }

  #request<T>(request: DistributiveOmit<HistoryThreadRequest, 'id'>): Promise<T> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  #settle(response: HistoryThreadResponse): void {
    const waiting = this.#pending.get(response.id);
    if (!waiting) return;
    this.#pending.delete(response.id);
    if (response.ok) waiting.resolve(response.value);
    else waiting.reject(new Error(response.error));
  }

  /** Without its thread, nothing can be written: every call fails (offsets stay uncommitted) until the service restarts. */
  #fail(error: Error): void {
    if (!this.#exited && !this.#closing) this.#onFailure(error);
    this.#exited ??= error;
    for (const waiting of this.#pending.values()) waiting.reject(error);
    this.#pending.clear();
  }
}
