import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type Component, ServiceLifecycle } from '../../../lib/lifecycle.ts';

const silent = pino({ level: 'silent' });

function recorder(log: string[], name: string, options: { failStart?: boolean; hangStop?: boolean } = {}): Component {
  return {
    name,
    async start() {
      if (options.failStart) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    async stop() {
      if (options.hangStop) await new Promise(() => {});
      log.push(`stop ${name}`);
    },
  };
}

describe('ServiceLifecycle', () => {
  it('starts in order and stops in reverse, once', async () => {
    const log: string[] = [];
    const lifecycle = new ServiceLifecycle({ logger: silent, stopTimeoutMs: 1_000 });
    lifecycle.add(recorder(log, 'kafka')).add(recorder(log, 'redis')).add(recorder(log, 'http'));
    await lifecycle.start();
    await Promise.all([lifecycle.stop(), lifecycle.stop()]);
    expect(log).toEqual(['start kafka', 'start redis', 'start http', 'stop http', 'stop redis', 'stop kafka']);
  });

  it('stops what already started when a later component fails to start', async () => {
    const log: string[] = [];
    const lifecycle = new ServiceLifecycle({ logger: silent, stopTimeoutMs: 1_000 });
    lifecycle
      .add(recorder(log, 'a'))
      .add(recorder(log, 'b'))
      .add(recorder(log, 'c', { failStart: true }));
    await expect(lifecycle.start()).rejects.toThrow('c cannot start');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('moves on when a component does not stop in time', async () => {
    const log: string[] = [];
    const lifecycle = new ServiceLifecycle({ logger: silent, stopTimeoutMs: 50 });
    lifecycle.add(recorder(log, 'a')).add(recorder(log, 'stuck', { hangStop: true }));
    await lifecycle.start();
    await lifecycle.stop();
    expect(log).toEqual(['start a', 'start stuck', 'stop a']);
  });

  it('drains and stops in reverse on SIGTERM in a real process', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../fixtures/lifecycle-service.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let signalled = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready') && !signalled) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(output.trim().split('\n')).toEqual(['start first', 'start second', 'ready', 'drained second', 'stop second', 'stop first', 'exited after SIGTERM']);
  });
});
