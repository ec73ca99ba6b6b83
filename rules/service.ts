import type { FastifyInstance } from 'fastify';
import type { Clock } from '../lib/clock.ts';
import type { ConfigOf } from '../lib/config/load.ts';
import { listeningUrl } from '../lib/http/listening-url.ts';
import { ServiceLifecycle } from '../lib/lifecycle.ts';
import type { Logger } from '../lib/logger.ts';
import { createRedis } from '../lib/redis.ts';
import { RuleStore } from '../lib/rule-store/rule-store.ts';
import { RuleAdmin } from './admin/rule-admin.ts';
import { tokenTable } from './admin/tokens.ts';
import type { rulesConfigSchema } from './config.ts';
import { buildRulesServer } from './server.ts';

export type RulesConfig = ConfigOf<(typeof rulesConfigSchema)['vars']>;

/** The rules admin service: the rule store in Redis behind the admin API. */
export async function createRulesService(config: RulesConfig, clock: Clock, logger: Logger) {
  const redis = createRedis(config.REDIS_URL);
  const store = new RuleStore(redis, config.REDIS_KEY_PREFIX);
  const admin = new RuleAdmin(store, clock);
  let server: Awaited<ReturnType<typeof buildRulesServer>> | undefined;
  const lifecycle = new ServiceLifecycle({ logger, stopTimeoutMs: 10_000 });
  lifecycle.add({ name: 'redis', start: () => redis.connect(), stop: async () => void (await redis.quit()) });
  lifecycle.add({
    name: 'http',
    start: async () => {
      server = await buildRulesServer({
        operationsTokens: config.OPERATIONS_TOKENS,
        admin,
        store,
        tokens: tokenTable(config.RULES_API_TOKENS),
        processors: config.RULES_PROCESSOR_URL ? { url: config.RULES_PROCESSOR_URL, token: config.RULES_PROCESSOR_TOKEN ?? '' } : undefined,
        logger,
        ready: () =>
          redis.ping().then(
            () => true,
            () => false,
          ),
      });
      const address = await server.listen({ host: config.RULES_HOST, port: config.RULES_PORT });
      logger.info({ address }, 'rules admin API running');
    },
    stop: async () => server?.close(),
  });
  return {
    lifecycle,
    url: () => listeningUrl(server as FastifyInstance),
  };
}
