import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultKafkaCacheDir, ensureJavaAndMaven } from './kafka-install.ts';
import { freePort, isAlive, StopWaiting, spawnDetached, terminate, waitFor } from './processes.ts';

/**
 * Apicurio Registry, whose Confluent-compatible API (/apis/ccompat/v7) the services and any
 * Schema Registry-aware consumer use. 3.0.x is the last line built for Java 17 (Debian 12's
 * JDK, which the stack installs for Kafka anyway); 3.1 and later need Java 21.
 */
export const APICURIO_VERSION = '3.0.9';
/** The release's runnable distribution on Maven Central (a Quarkus uber-jar and its lib/). */
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
const RUNNER_JAR = `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`;
/** The Confluent-compatible API's path on the registry's port. */
export const CCOMPAT_PATH = '/apis/ccompat/v7';
const PID_FILE = 'registry.pid';
const LOG_FILE = 'registry.log';
const DEFAULT_HEAP_MB = 256;

/**
 * Makes sure the pinned Apicurio Registry is unpacked in the cache, fetching it from Maven
 * Central once (Java and Maven installed first when missing). Returns the runner jar.
 *
 * The artifact's parent POM is not on Maven Central, so a resolver that reads the artifact's
 * descriptor (dependency:copy, dependency:unpack, dependency:get of plugin 3.x) fails;
 * maven-dependency-plugin 2.8's get with transitive=false fetches the file alone. It goes to
 * a local repository of its own, so its path is known, and that repository is removed after.
 */
export function ensureSchemaRegistryInstalled(cacheDir: string = defaultKafkaCacheDir()): string {
  const dir = join(cacheDir, `apicurio-registry-${APICURIO_VERSION}`);
  const jar = join(dir, RUNNER_JAR);
  if (existsSync(jar)) return jar;
  ensureJavaAndMaven();
  mkdirSync(cacheDir, { recursive: true });
  const building = `${dir}.tmp-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  console.error(`[stack] fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central (once, ~110 MB; cached in ${dir}) ...`);
  const repository = join(building, 'm2');
  try {
    const fetched = spawnSync(
      'mvn',
      [
        '-B',
        '-q',
        '-Dstyle.color=never',
        `-Dmaven.repo.local=${repository}`,
        'org.apache.maven.plugins:maven-dependency-plugin:2.8:get',
        `-Dartifact=${ARTIFACT}`,
        '-Dtransitive=false',
      ],
      { encoding: 'utf8' },
    );
    if (fetched.status !== 0) {
      const output = `${fetched.stdout}${fetched.stderr}`.trim().split('\n').slice(-20).join('\n');
      throw new Error(`fetching ${ARTIFACT} with Maven failed (exit code ${fetched.status}):\n${output}`);
    }
    const archive = join(repository, 'io/apicurio/apicurio-registry-app', APICURIO_VERSION, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
    const unpacked = spawnSync('tar', ['-xzf', archive, '-C', building], { encoding: 'utf8' });
    if (unpacked.status !== 0) throw new Error(`unpacking ${archive} failed: ${unpacked.stderr.trim()}`);
    rmSync(repository, { recursive: true, force: true });
    if (!existsSync(join(building, RUNNER_JAR))) throw new Error(`${ARTIFACT} holds no ${RUNNER_JAR}`);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
  try {
    renameSync(building, dir);
  } catch (error) {
    // Another process installed it meanwhile: use theirs.
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(jar)) throw error;
  }
  return jar;
}

/** Whether a Confluent-compatible registry answers at this base URL (…/apis/ccompat/v7). */
export async function schemaRegistryResponds(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function logTail(file: string, lines = 25): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export interface LocalSchemaRegistryOptions {
  /** Where the registry keeps its database (H2 files), pid file and log. */
  readonly dir: string;
  readonly heapMb?: number;
  readonly readyTimeoutMs?: number;
}

/**
 * Apicurio Registry on loopback with its SQL storage in H2 files under `dir`, so schema ids
 * survive a restart of the registry (records in Kafka name them); stop() deletes them.
 */
export class LocalSchemaRegistry {
  /** Base URL of the Confluent-compatible API: what SCHEMA_REGISTRY_URL and kcat's -r take. */
  readonly url: string;
  readonly pid: number;
  readonly version = APICURIO_VERSION;
  /** How long the start took until the API answered. */
  readonly startedInMs: number;
  readonly #dir: string;

  private constructor(dir: string, url: string, pid: number, startedInMs: number) {
    this.#dir = dir;
    this.url = url;
    this.pid = pid;
    this.startedInMs = startedInMs;
  }

  /** Installs the registry if needed and starts it on a free port with the data under options.dir (kept from before); resolves once it answers. */
  static async start(options: LocalSchemaRegistryOptions): Promise<LocalSchemaRegistry> {
    const jar = ensureSchemaRegistryInstalled();
    const dir = options.dir;
    await killRegistryIn(dir);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const started = Date.now();
    const log = join(dir, LOG_FILE);
    const pid = spawnDetached(
      'java',
      [
        `-Xmx${options.heapMb ?? DEFAULT_HEAP_MB}m`,
        '-XX:+ExitOnOutOfMemoryError',
        '-XX:-UsePerfData',
        // Two cores: the serial collector, no parallel GC threads competing with Kafka and Node.
        '-XX:+UseSerialGC',
        `-Dquarkus.http.host=127.0.0.1`,
        `-Dquarkus.http.port=${port}`,
        `-Dapicurio.datasource.url=jdbc:h2:file:${join(dir, 'data', 'registry')}`,
        // Marks the JVM as this directory's, so that stopAt() kills only its own.
        `-Dsegstream.registry.dir=${dir}`,
        '-jar',
        jar,
      ],
      log,
    );
    writeFileSync(join(dir, PID_FILE), String(pid));
    const url = `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
    try {
      await waitFor(`Apicurio Registry ${APICURIO_VERSION} on port ${port}`, options.readyTimeoutMs ?? 90_000, async () => {
        if (!isAlive(pid)) throw new StopWaiting(`Apicurio Registry exited while starting. Last lines of ${log}:\n${logTail(log)}`);
        return (await schemaRegistryResponds(url)) ? true : undefined;
      });
    } catch (error) {
      await terminate(pid, 0);
      throw error;
    }
    return new LocalSchemaRegistry(dir, url, pid, Date.now() - started);
  }

  /** Stops the registry and deletes its data. */
  stop(): Promise<number[]> {
    return LocalSchemaRegistry.stopAt(this.#dir);
  }

  /** Stops the registry a LocalSchemaRegistry started under `dir` (from any process) and deletes its data; returns the pids stopped. */
  static async stopAt(dir: string): Promise<number[]> {
    const stopped = await killRegistryIn(dir);
    rmSync(dir, { recursive: true, force: true });
    return stopped;
  }
}

/** Stops the JVM whose pid file is in `dir`, checking the pid is still that registry. */
async function killRegistryIn(dir: string): Promise<number[]> {
  const file = join(dir, PID_FILE);
  if (!existsSync(file)) return [];
  const pid = Number(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  if (Number.isInteger(pid) && isAlive(pid) && commandLineOf(pid).includes(`-Dsegstream.registry.dir=${dir} `)) {
    await terminate(pid, 5_000);
    return [pid];
  }
  return [];
}
