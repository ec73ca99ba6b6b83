import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../stack/processes.ts';

export interface IngestProcess {
  readonly url: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

/** Runs ingest/main.ts as its own process, the way it runs in production, and waits until it is ready. */
export async function startIngestProcess(env: Record<string, string | undefined>, writeKey: string, logFile: string): Promise<IngestProcess> {
  const port = await freePort();
  const log = openSync(logFile, 'w');
  const child: ChildProcess = spawn(process.execPath, ['ingest/main.ts'], {
    env: { ...env, INGEST_HOST: '127.0.0.1', INGEST_PORT: String(port), INGEST_WRITE_KEYS: `${writeKey}=demo` },
    stdio: ['ignore', log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`ingest exited with code ${child.exitCode} before it was ready; see ${logFile}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) {
      return {
        url,
        logFile,
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`ingest was not ready within 30 s; see ${logFile}`);
}
