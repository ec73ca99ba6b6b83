import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { classDataArchivePath, ensureKafkaInstalled, type KafkaInstallation, LOG4J_CONFIG } from './kafka-install.ts';
import { bootstrapServers, clusterLayout, type KafkaClusterLayout, type KafkaNodeLayout, serverProperties } from './kafka-properties.ts';
import { freePort, isAlive, StopWaiting, spawnDetached, terminate, waitFor } from './processes.ts';

export interface LocalKafkaOptions {
  /** Where the nodes keep their data, properties and logs; emptied on start. */
  readonly dir: string;
  /** Nodes in the cluster (1 by default): the first three are broker and controller, the others brokers. */
  readonly brokers?: number;
  /** Heap of each node's JVM. */
  readonly heapMb?: number;
  readonly readyTimeoutMs?: number;
  /**
   * The node's client port and the port it tells clients to use (one node only): a test
   * puts a proxy there, so every connection of a client goes through it.
   */
  readonly proxied?: { readonly port: number; readonly advertisedPort: number };
}

/**
 * down() gives each node this long to shut down cleanly (under a second for one node),
 * then kills it: the last nodes of a cluster stopped together wait for a controller
 * quorum that is gone.
 */
const DOWN_GRACE_MS = 10_000;
const DEFAULT_HEAP_MB = 512;

/**
 * Answers whether every one of `brokers` nodes is up and serving clients (registered and
 * unfenced) and consumer groups work: the group coordinator answers, which on a fresh
 * cluster first creates the offsets topic (else the first consumer of each run would
 * meet "coordinator not available" or "loading" errors).
 */
export async function kafkaClusterReady(bootstrap: readonly string[], brokers: number): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'segstream-stack-probe',
    brokers: [...bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    if ((await admin.describeCluster()).brokers.length !== brokers) return false;
    await admin.fetchOffsets({ groupId: 'segstream-stack-probe', topics: [] });
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Distinct free loopback ports, two per node (clients, controller). */
async function nodePorts(count: number): Promise<{ port: number; controllerPort: number }[]> {
  const taken = new Set<number>();
  const next = async () => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const ports = [];
  for (let i = 0; i < count; i++) ports.push({ port: await next(), controllerPort: await next() });
  return ports;
}

/** A KRaft cluster id: 16 random bytes, base64url; never starting with "-", which the storage tool would take for an option. */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function jvmArguments(installation: KafkaInstallation, heapMb: number, classData: { use?: string; create?: string }): string[] {
  return [
    `-Xmx${heapMb}m`,
    '-XX:+ExitOnOutOfMemoryError',
    // No hsperfdata file per JVM; nothing here reads it.
    '-XX:-UsePerfData',
    // The class-data archive maps Kafka's classes parsed and verified: about twice as fast a start.
    ...(classData.use ? [`-XX:SharedArchiveFile=${classData.use}`] : []),
    ...(classData.create ? [`-XX:ArchiveClassesAtExit=${classData.create}`, '-Xlog:cds=off', '-Xlog:cds+dynamic=off'] : []),
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    '-cp',
    installation.classpath,
  ];
}

function run(command: string, args: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

function logTail(file: string, lines = 25): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Kills the JVMs a LocalKafka left in `dir` (pid files), checking each pid is still that
 * node. No clean shutdown: the data goes with them.
 */
async function killNodesIn(dir: string): Promise<number[]> {
  if (!existsSync(dir)) return [];
  const stopped: number[] = [];
  for (const file of readdirSync(dir).filter((f) => /^node-\d+\.pid$/.test(f))) {
    const pid = Number(readFileSync(join(dir, file), 'utf8'));
    const properties = join(dir, file.replace(/\.pid$/, '.properties'));
    if (Number.isInteger(pid) && isAlive(pid) && commandLineOf(pid).includes(properties)) {
      await terminate(pid, 0);
      stopped.push(pid);
    }
    rmSync(join(dir, file), { force: true });
  }
  return stopped;
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Apache Kafka on loopback, from the jars of the version scripts/stack/kafka/pom.xml pins:
 * one combined broker/controller by default, or a cluster of several nodes (KRaft).
 * Its data lives under `dir` and goes with stop().
 */
export class LocalKafka {
  readonly version: string;
  readonly bootstrap: readonly string[];
  readonly layout: KafkaClusterLayout;
  /** How long the last start (or up()) took until every node served clients. */
  startedInMs = 0;
  readonly #dir: string;
  readonly #jvm: string[];
  readonly #readyTimeoutMs: number;
  #pids: number[] = [];

  private constructor(dir: string, installation: KafkaInstallation, layout: KafkaClusterLayout, jvm: string[], readyTimeoutMs: number) {
    this.#dir = dir;
    this.version = installation.version;
    this.layout = layout;
    this.bootstrap = bootstrapServers(layout);
    this.#jvm = jvm;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  get pids(): readonly number[] {
    return this.#pids;
  }

  get replicationFactor(): number {
    return this.layout.replicationFactor;
  }

  /** Installs Kafka if needed, formats fresh storage under options.dir and starts every node; resolves once all serve clients. */
  static async start(options: LocalKafkaOptions): Promise<LocalKafka> {
    const installation = ensureKafkaInstalled();
    const dir = options.dir;
    await killNodesIn(dir);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const heapMb = options.heapMb ?? DEFAULT_HEAP_MB;
    const classData = await ensureClassDataArchive(installation, join(dir, 'class-data-training'), heapMb);
    // Start-up time from here: formatting storage and starting the JVMs, not the one-off install.
    const started = Date.now();
    if (options.proxied && (options.brokers ?? 1) !== 1) throw new Error('a proxied Kafka has one node');
    const ports = await nodePorts(options.brokers ?? 1);
    const layout = clusterLayout(options.proxied ? ports.map((p) => ({ ...p, ...options.proxied })) : ports, (id) => join(dir, `node-${id}`, 'data'));
    const kafka = new LocalKafka(dir, installation, layout, jvmArguments(installation, heapMb, { use: classData }), options.readyTimeoutMs ?? 90_000);
    const id = clusterId();
    await Promise.all(
      layout.nodes.map(async (node) => {
        writeFileSync(kafka.#propertiesFile(node), serverProperties(layout, node));
        const format = await run('java', [...kafka.#jvm, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', kafka.#propertiesFile(node)]);
        if (format.code !== 0) throw new Error(`formatting Kafka storage for node ${node.id} failed (exit code ${format.code}):\n${format.output.trim()}`);
      }),
    );
    await kafka.#startNodes(started);
    return kafka;
  }

  /** Stops every node but keeps its data, as an outage would (until up()). */
  async down(): Promise<void> {
    await Promise.all(this.#pids.map((pid) => terminate(pid, DOWN_GRACE_MS)));
    this.#pids = [];
  }

  /** Starts the nodes again on the same ports with the data they had; resolves once all serve clients. */
  up(): Promise<void> {
    return this.#startNodes(Date.now());
  }

  /** Stops every node and deletes the data. */
  async stop(): Promise<void> {
    await LocalKafka.stopAt(this.#dir);
    this.#pids = [];
  }

  /** Stops the nodes a LocalKafka started under `dir` (from any process) and deletes their data; returns the pids stopped. */
  static async stopAt(dir: string): Promise<number[]> {
    const stopped = await killNodesIn(dir);
    rmSync(dir, { recursive: true, force: true });
    return stopped;
  }

  #propertiesFile(node: KafkaNodeLayout): string {
    return join(this.#dir, `node-${node.id}.properties`);
  }

  #logFile(node: KafkaNodeLayout): string {
    return join(this.#dir, `node-${node.id}.log`);
  }

  /** The pid of node `id` (1-based, as in the layout), or undefined when it is not running. */
  pidOf(id: number): number | undefined {
    const pid = this.#pids[id - 1];
    return pid !== undefined && isAlive(pid) ? pid : undefined;
  }

  /** Kills node `id` with SIGKILL, as a crash would: no clean shutdown, its data stays. Resolves once the process is gone. */
  async killNode(id: number): Promise<number> {
    const pid = this.pidOf(id);
    if (pid === undefined) throw new Error(`Kafka node ${id} is not running`);
    process.kill(pid, 'SIGKILL');
    await waitFor(`Kafka node ${id} (pid ${pid}) to exit`, 10_000, async () => (isAlive(pid) ? undefined : true));
    return pid;
  }

  /** Starts node `id` again on its port with the data it had; resolves once every node serves clients. */
  async restartNode(id: number): Promise<void> {
    const node = this.layout.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no Kafka node ${id} in this cluster`);
    if (this.pidOf(id) !== undefined) throw new Error(`Kafka node ${id} is still running`);
    this.#pids[id - 1] = this.#spawn(node);
    await this.#waitReady(Date.now());
  }

  #spawn(node: KafkaNodeLayout): number {
    const pid = spawnDetached('java', [...this.#jvm, 'kafka.Kafka', this.#propertiesFile(node)], this.#logFile(node));
    writeFileSync(join(this.#dir, `node-${node.id}.pid`), String(pid));
    return pid;
  }

  async #startNodes(since: number): Promise<void> {
    this.#pids = this.layout.nodes.map((node) => this.#spawn(node));
    await this.#waitReady(since);
  }

  async #waitReady(since: number): Promise<void> {
    const what = `Kafka ${this.version} (${this.layout.nodes.length} node${this.layout.nodes.length > 1 ? 's' : ''} on ${this.bootstrap.join(',')})`;
    try {
      await waitFor(what, this.#readyTimeoutMs, async () => {
        const dead = this.layout.nodes.filter((_, i) => !isAlive(this.#pids[i] as number));
        if (dead.length > 0) {
          throw new StopWaiting(
            `${what}: node ${dead.map((n) => n.id).join(', ')} exited while starting. Last lines of ${this.#logFile(dead[0] as KafkaNodeLayout)}:\n${logTail(this.#logFile(dead[0] as KafkaNodeLayout))}`,
          );
        }
        return (await kafkaClusterReady(this.bootstrap, this.layout.nodes.length)) ? true : undefined;
      });
    } catch (error) {
      const logs = this.layout.nodes.map((n) => this.#logFile(n)).join(', ');
      await this.down();
      throw error instanceof StopWaiting ? error : new Error(`${error instanceof Error ? error.message : String(error)}; see ${logs}`);
    }
    this.startedInMs = Date.now() - since;
  }
}

/**
 * A class-data archive of Kafka's classes for this JVM, made once per installation by a
 * training run (a throwaway node started and stopped: ~10 s). Later starts map the archive
 * and skip parsing and verifying those classes. Undefined, and starts are slower, if it
 * cannot be made; a failure is remembered (`<archive>.failed`, with the reason) so that
 * later starts do not pay for the training again.
 */
async function ensureClassDataArchive(installation: KafkaInstallation, trainingDir: string, heapMb: number): Promise<string | undefined> {
  const archive = classDataArchivePath(installation);
  if (!archive || existsSync(archive)) return archive;
  if (existsSync(`${archive}.failed`)) return undefined;
  console.error('[stack] training a class-data archive so that Kafka starts about twice as fast (once, ~10 s) ...');
  const partial = `${archive}.tmp-${process.pid}`;
  rmSync(trainingDir, { recursive: true, force: true });
  mkdirSync(trainingDir, { recursive: true });
  const layout = clusterLayout(await nodePorts(1), () => join(trainingDir, 'data'));
  const node = layout.nodes[0] as KafkaNodeLayout;
  const properties = join(trainingDir, 'server.properties');
  const log = join(trainingDir, 'node.log');
  writeFileSync(properties, serverProperties(layout, node));
  try {
    const format = await run('java', [...jvmArguments(installation, heapMb, {}), 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', properties]);
    if (format.code !== 0) throw new Error(`formatting failed: ${format.output.trim()}`);
    const pid = spawnDetached('java', [...jvmArguments(installation, heapMb, { create: partial }), 'kafka.Kafka', properties], log);
    try {
      await waitFor('Kafka (class-data training run)', 90_000, async () => {
        if (!isAlive(pid)) throw new StopWaiting(`the training node exited:\n${logTail(log)}`);
        return (await kafkaClusterReady(bootstrapServers(layout), 1)) ? true : undefined;
      });
    } finally {
      // The archive is written as the JVM exits.
      await terminate(pid, 60_000);
    }
    if (!existsSync(partial)) throw new Error('the JVM wrote no archive');
    renameSync(partial, archive);
    return archive;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`[stack] no class-data archive (Kafka starts without it; delete ${archive}.failed to try again): ${reason}`);
    writeFileSync(`${archive}.failed`, `${reason}\n`);
    rmSync(partial, { force: true });
    return undefined;
  } finally {
    rmSync(trainingDir, { recursive: true, force: true });
  }
}
