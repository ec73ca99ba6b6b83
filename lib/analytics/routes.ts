import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { ANALYSES } from './catalog.ts';
import { AnalysisLimitExceeded, type AnalysisRunner } from './runner.ts';

export interface AnalysisRoutesOptions {
  /** Routes are <prefix>/<analysis name>. */
  readonly prefix: string;
  readonly tag: string;
  readonly runner: AnalysisRunner;
  /** The longest a request waits for its answer, and the variable that sets it. */
  readonly timeoutMs: number;
  readonly timeoutVariable: string;
  readonly logger: Logger;
}

/**
 * One POST route per analysis of the catalogue, its body checked by the analysis' JSON
 * Schema (400 naming the field) and check (422), answered within a time limit (504) or
 * memory limit (422). Failures are logged with their cause and answered without internal
 * text. Authentication is the caller's (a hook on the instance).
 */
export function registerAnalysisRoutes(app: FastifyInstance, options: AnalysisRoutesOptions): void {
  for (const analysis of ANALYSES)
    app.post(
      `${options.prefix}/${analysis.name}`,
      { schema: { summary: analysis.summary, tags: [options.tag], security: [{ bearer: [] }], body: analysis.body } },
      async (request, reply) => {
        const body = request.body as never;
        const problems = analysis.check?.(body) ?? [];
        if (problems.length > 0) return reply.code(422).send({ error: 'invalid_request', message: problems.join('; '), problems });
        const abort = new AbortController();
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const limit = new AnalysisLimitExceeded('time', `the analysis took longer than ${options.timeoutMs} ms (${options.timeoutVariable})`);
            abort.abort(limit);
            reject(limit);
          }, options.timeoutMs);
        });
        try {
          return await Promise.race([options.runner.run(analysis, body, abort.signal), deadline]);
        } catch (error) {
          if (error instanceof AnalysisLimitExceeded)
            return reply
              .code(error.limit === 'time' ? 504 : 422)
              .send({ error: error.limit === 'time' ? 'timeout' : 'too_large', message: `${error.message}; narrow the date range` });
          options.logger.error({ err: errorMessage(error), analysis: analysis.name, request: request.id }, 'analysis failed');
          return reply.code(500).send({ error: 'query_failed', message: `the analysis failed (request ${request.id}); the service log has the cause` });
        } finally {
          clearTimeout(timer);
        }
      },
    );
}
