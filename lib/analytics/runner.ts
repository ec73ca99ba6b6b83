import { errorMessage } from '../errors.ts';
import type { Warehouse } from '../warehouse/warehouse.ts';
import type { Analysis } from './catalog.ts';

/** Limits every analytics read runs under, whoever asked for it. */
export interface ReadLimits {
  readonly timeoutMs: number;
  readonly maxMemoryBytes: number;
  /** The variables the limits come from, named in the errors that hit them. */
  readonly configuredBy: { readonly timeout: string; readonly memory: string };
}

/** Runs analyses of the catalogue by name; nothing else reaches the warehouse through it. */
export interface AnalysisRunner {
  run(analysis: Analysis, request: unknown, signal?: AbortSignal): Promise<unknown>;
  /** Resolves when analyses can run now, rejects with the reason otherwise. */
  probe(): Promise<void>;
}

/** The analysis ran into its time or memory limit; the message says which, and what sets it. */
export class AnalysisLimitExceeded extends Error {
  readonly limit: 'time' | 'memory';

  constructor(limit: 'time' | 'memory', message: string, options?: ErrorOptions) {
    super(message, options);
    this.limit = limit;
  }
}

/**
 * The SETTINGS clause of every analytics read. `readonly = 1` comes last: the limits are
 * set first, then the query runs read-only, which also refuses table functions that reach
 * files or the network (file, url, remote, s3, executable ...) and any change of settings.
 * Only numbers from configuration go into it, never request values.
 */
export function readOnlySettings(limits: ReadLimits): string {
  const seconds = Math.max(1, Math.ceil(limits.timeoutMs / 1000));
  return `SETTINGS max_execution_time = ${seconds}, timeout_overflow_mode = 'throw', max_memory_usage = ${Math.trunc(limits.maxMemoryBytes)}, readonly = 1`;
}

const TIMEOUT = /TIMEOUT_EXCEEDED|Timeout exceeded/;
const MEMORY = /MEMORY_LIMIT_EXCEEDED|memory limit exceeded/i;

/** Runs analyses on a warehouse this process opened (embedded or a server), read-only and within limits. */
export class WarehouseAnalysisRunner implements AnalysisRunner {
  readonly #warehouse: Warehouse;
  readonly #settings: string;
  readonly #limits: ReadLimits;

  constructor(warehouse: Warehouse, limits: ReadLimits) {
    this.#warehouse = warehouse;
    this.#limits = limits;
    this.#settings = readOnlySettings(limits);
  }

  async run(analysis: Analysis, request: unknown): Promise<unknown> {
    const built = analysis.sql(request as never);
    let rows: Record<string, unknown>[];
    try {
      rows = await this.#warehouse.query(`${built.sql}\n${this.#settings}`, built.params);
    } catch (error) {
      const message = errorMessage(error);
      const { configuredBy, timeoutMs, maxMemoryBytes } = this.#limits;
      if (TIMEOUT.test(message))
        throw new AnalysisLimitExceeded('time', `the analysis took longer than ${timeoutMs} ms (${configuredBy.timeout})`, { cause: error });
      if (MEMORY.test(message))
        throw new AnalysisLimitExceeded('memory', `the analysis needed more than ${maxMemoryBytes} bytes of memory (${configuredBy.memory})`, { cause: error });
      throw error;
    }
    return analysis.result(request as never, rows);
  }

  async probe(): Promise<void> {
    await this.#warehouse.query(`SELECT 1 AS ok\n${this.#settings}`);
  }
}
