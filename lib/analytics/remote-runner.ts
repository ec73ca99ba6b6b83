import type { Analysis } from './catalog.ts';
import { AnalysisLimitExceeded, type AnalysisRunner } from './runner.ts';
import { WAREHOUSE_ANALYSES_PREFIX } from './warehouse-routes.ts';

/**
 * Runs analyses on the process that owns an embedded ClickHouse (chdb allows one process
 * per data directory), through its warehouse routes: the analysis by name and its
 * request go over HTTP, the answer comes back. No SQL leaves this process.
 */
export class RemoteAnalysisRunner implements AnalysisRunner {
  readonly #base: string;
  readonly #token: string;

  constructor(settings: { readonly url: string; readonly token: string }) {
    this.#base = settings.url;
    this.#token = settings.token;
  }

  async run(analysis: Analysis, request: unknown, signal?: AbortSignal): Promise<unknown> {
    const response = await this.#send(`${WAREHOUSE_ANALYSES_PREFIX}/${analysis.name}`, { method: 'POST', body: JSON.stringify(request), signal });
    const body = (await response.json().catch(() => ({}))) as { error?: string; message?: string };
    if (response.ok) return body;
    if (response.status === 504 || body.error === 'too_large')
      throw new AnalysisLimitExceeded(response.status === 504 ? 'time' : 'memory', (body.message ?? 'limit exceeded').replace(/; narrow the date range$/, ''));
    throw new Error(`the warehouse owner at ${this.#base} answered ${response.status}: ${body.message ?? 'no message'}`);
  }

  /** Resolves when the owner serves analyses, rejects with the reason otherwise (unreachable, a refused token, not ready). */
  async probe(): Promise<void> {
    const response = await this.#send(`${WAREHOUSE_ANALYSES_PREFIX}/ready`, { method: 'GET' });
    if (response.ok) return;
    const body = (await response.json().catch(() => ({}))) as { message?: string; status?: string };
    throw new Error(`the warehouse owner at ${this.#base} answered ${response.status}: ${body.message ?? body.status ?? 'no message'}`);
  }

  async #send(path: string, init: { method: string; body?: string; signal?: AbortSignal | undefined }): Promise<Response> {
    const url = new URL(path, this.#base).toString();
    try {
      return await fetch(url, {
        ...init,
        headers: { authorization: `Bearer ${this.#token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
      });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new Error(`the warehouse owner at ${url} is not reachable: ${(error as Error).cause ?? error}`, { cause: error });
    }
  }
}
