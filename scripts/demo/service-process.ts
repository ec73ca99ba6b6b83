import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceProcess {
  readonly url: string;
  readonly logFile: string;
  /** SIGTERM, then wait for the service to drain and exit. */
  stop(): Promise<void>;
}

/**
 * Runs a service's main.ts as its own process, the way it runs in production, and waits
 * until its /readyz answers 200 (the processors: joined the consumer group).
 */
export async function startServiceProcess(
  name: string,
  entry: string,
  env: Record<string, string | undefined>,
  port: number,
  logFile: string,
  readyWithinMs = 90_000,
): Promise<ServiceProcess> {
  const log = openSync(logFile, 'w');
  const child: ChildProcess = spawn(process.execPath, [entry], { env, stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + readyWithinMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready; see ${logFile}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) {
      return {
        url,
        logFile,
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${name} was not ready within ${readyWithinMs / 1000} s; see ${logFile}`);
}
