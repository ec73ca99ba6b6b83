import { errorMessage } from './errors.ts';
import type { Logger } from './logger.ts';
import { withTimeout } from './with-timeout.ts';

/** Something a service starts and, on shutdown, stops (draining in-flight work first). */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  /** Finish in-flight work, then release resources. Called at most once. */
  stop(): Promise<void>;
}

export interface LifecycleOptions {
  readonly logger: Logger;
  /** How long one component may take to stop before we give up on it and move on. */
  readonly stopTimeoutMs: number;
}

/**
 * Starts components in order and stops them in reverse, so that what depends on a
 * component (e.g. an HTTP server producing to Kafka) stops before it does.
 */
export class ServiceLifecycle {
  readonly #components: Component[] = [];
  readonly #started: Component[] = [];
  readonly #options: LifecycleOptions;
  #stopping: Promise<void> | undefined;

  constructor(options: LifecycleOptions) {
    this.#options = options;
  }

  add(component: Component): this {
    if (this.#started.length > 0) throw new Error(`cannot add ${component.name}: the service has already started`);
    this.#components.push(component);
    return this;
  }

  /** Starts every component; if one fails, stops those already started and rethrows. */
  async start(): Promise<void> {
    const { logger } = this.#options;
    for (const component of this.#components) {
      try {
        await component.start();
        this.#started.push(component);
        logger.info({ component: component.name }, 'started');
      } catch (error) {
        logger.error({ component: component.name, err: errorMessage(error) }, 'start failed; stopping what already started');
        await this.stop();
        throw error;
      }
    }
  }

  /** Stops started components in reverse order. Safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    const { logger, stopTimeoutMs } = this.#options;
    while (this.#started.length > 0) {
      const component = this.#started.pop() as Component;
      try {
        await withTimeout(component.stop(), stopTimeoutMs, `stopping ${component.name}`);
        logger.info({ component: component.name }, 'stopped');
      } catch (error) {
        logger.error({ component: component.name, err: errorMessage(error) }, 'stop failed; continuing shutdown');
      }
    }
  }

  /**
   * Stops the service on SIGTERM or SIGINT. A second signal while draining exits at once.
   * Returns a promise that settles after the shutdown completes.
   */
  stopOnSignals(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<NodeJS.Signals> {
    const { logger } = this.#options;
    return new Promise((resolve) => {
      let received: NodeJS.Signals | undefined;
      const onSignal = (signal: NodeJS.Signals) => {
        if (received) {
          logger.warn({ signal }, 'second signal during shutdown; exiting now');
          process.exit(130);
        }
        received = signal;
        logger.info({ signal }, 'shutting down');
        void this.stop().then(() => {
          for (const s of signals) process.off(s, onSignal);
          resolve(signal);
        });
      };
      for (const s of signals) process.on(s, onSignal);
    });
  }
}
