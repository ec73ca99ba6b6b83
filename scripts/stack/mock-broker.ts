import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandExists, ensureDebianPackages, spawnDetached, terminate, waitFor } from './processes.ts';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'mock-broker.c');
const HEADER = '/usr/include/librdkafka/rdkafka_mock.h';

export interface MockBrokerOptions {
  readonly stateDir: string;
  readonly brokers: number;
  readonly partitions: number;
  readonly topics: readonly string[];
  /** Distinguishes the log file when several brokers share a state directory. */
  readonly name?: string;
}

/** Compiles scripts/stack/mock-broker.c against librdkafka once (again only when the source changes). */
export function buildMockBroker(stateDir: string): string {
  const binary = join(stateDir, 'bin', 'mock-broker');
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(SOURCE).mtimeMs) return binary;
  ensureDebianPackages('the Kafka mock broker (librdkafka, gcc)', ['librdkafka-dev', 'gcc'], () => existsSync(HEADER) && commandExists('gcc'));
  mkdirSync(dirname(binary), { recursive: true });
  const result = spawnSync('gcc', ['-O2', '-Wall', '-o', binary, SOURCE, '-lrdkafka'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`compiling the mock broker failed:\n${result.stderr}`);
  return binary;
}

/**
 * librdkafka's in-memory mock cluster as a separate process: a real Kafka-protocol
 * broker (produce, fetch, consumer groups, offsets) without a JVM. Data does not
 * survive a restart of the broker.
 */
export class MockBroker {
  readonly pid: number;
  readonly bootstrap: readonly string[];
  readonly #log: string;

  private constructor(pid: number, bootstrap: readonly string[], log: string) {
    this.pid = pid;
    this.bootstrap = bootstrap;
    this.#log = log;
  }

  static async start(options: MockBrokerOptions): Promise<MockBroker> {
    const binary = buildMockBroker(options.stateDir);
    const log = join(options.stateDir, `${options.name ?? 'kafka'}.log`);
    writeFileSync(log, '');
    const pid = spawnDetached(binary, [String(options.brokers), String(options.partitions), ...options.topics], log);
    const bootstrap = await waitFor('mock Kafka broker', 10_000, async () => {
      const line = readFileSync(log, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('BOOTSTRAP '));
      return line ? line.slice('BOOTSTRAP '.length).trim().split(',') : undefined;
    });
    return new MockBroker(pid, bootstrap, log);
  }

  /** Takes every broker of the cluster down (connections refused) until up(); resolves once the broker confirms. */
  down(): Promise<void> {
    return this.#signal('SIGUSR1', 'DOWN');
  }

  up(): Promise<void> {
    return this.#signal('SIGUSR2', 'UP');
  }

  // The broker applies the signal on its next poll and prints the new state; wait for that line.
  async #signal(signal: NodeJS.Signals, confirmation: string): Promise<void> {
    const count = () =>
      readFileSync(this.#log, 'utf8')
        .split('\n')
        .filter((line) => line === confirmation).length;
    const before = count();
    process.kill(this.pid, signal);
    await waitFor(`mock broker ${confirmation}`, 5_000, async () => (count() > before ? true : undefined));
  }

  stop(): Promise<void> {
    return terminate(this.pid);
  }
}
