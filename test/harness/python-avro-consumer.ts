import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePythonVenv } from './python-venv.ts';

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

/** Python with Confluent's client and its Avro deserializer (test/harness/python/requirements.txt). */
export function ensurePythonAvroConsumer(): string {
  return join(ensurePythonVenv('python-avro', REQUIREMENTS, 'a Schema Registry-aware consumer outside Node'), 'python');
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
