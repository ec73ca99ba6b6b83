import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultKafkaCacheDir } from '../../scripts/stack/kafka-install.ts';
import { commandExists, ensureDebianPackages } from '../../scripts/stack/processes.ts';

const PYTHON_DIR = join(dirname(fileURLToPath(import.meta.url)), 'python');
const REQUIREMENTS = join(PYTHON_DIR, 'requirements.txt');
const SCRIPT = join(PYTHON_DIR, 'avro_consumer.py');

/** One record as the Python consumer decoded it: timestamps in epoch ms, bytes as { base64 }. */
export interface PythonRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly schemaId: number | null;
  /** Absent when the value did not decode; `error` says why. */
  readonly value?: Record<string, unknown>;
  readonly error?: string;
}

function venvWorks(): boolean {
  return spawnSync('python3', ['-c', 'import ensurepip, venv'], { stdio: 'ignore' }).status === 0;
}

/**
 * A virtual environment with the pinned packages of test/harness/python/requirements.txt,
 * made once per requirements file under ~/.cache/segstream (Python 3 and its venv module
 * installed from Debian's packages first when missing). Returns its python.
 */
export function ensurePythonAvroConsumer(cacheDir: string = defaultKafkaCacheDir()): string {
  const key = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex').slice(0, 10);
  const dir = join(cacheDir, `python-avro-${key}`);
  const python = join(dir, 'bin', 'python');
  if (existsSync(python)) return python;
  ensureDebianPackages(
    'Python 3 with venv (a Schema Registry-aware consumer outside Node)',
    ['python3', 'python3-venv'],
    () => commandExists('python3') && venvWorks(),
  );
  mkdirSync(cacheDir, { recursive: true });
  const building = `${dir}.tmp-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  console.error(`[test] installing confluent-kafka for Python from PyPI into ${dir} (once) ...`);
  for (const [command, args] of [
    ['python3', ['-m', 'venv', building]],
    [join(building, 'bin', 'python'), ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', REQUIREMENTS]],
  ] as const) {
    const result = spawnSync(command, args, { encoding: 'utf8' });
    if (result.status !== 0) {
      rmSync(building, { recursive: true, force: true });
      throw new Error(
        `${command} ${args.join(' ')} failed (exit code ${result.status}):\n${`${result.stdout}${result.stderr}`.trim().split('\n').slice(-15).join('\n')}`,
      );
    }
  }
  try {
    renameSync(building, dir);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(python)) throw error;
  }
  return python;
}

/**
 * Reads the topics from their start to their current end with Confluent's Python client
 * (librdkafka) and its AvroDeserializer, which resolves each record's schema id at the
 * registry: what a consumer in another language sees.
 */
export function readWithPython(brokers: readonly string[], registryUrl: string, topics: readonly string[]): Promise<PythonRecord[]> {
  const python = ensurePythonAvroConsumer();
  return new Promise((resolve, reject) => {
    const child = spawn(python, [SCRIPT, '--brokers', brokers.join(','), '--registry', registryUrl, ...topics], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`avro_consumer.py exited with ${code}:\n${stderr.trim().split('\n').slice(-15).join('\n')}`));
      else
        resolve(
          stdout
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as PythonRecord),
        );
    });
  });
}
