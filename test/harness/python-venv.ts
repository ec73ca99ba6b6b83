import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultKafkaCacheDir } from '../../scripts/stack/kafka-install.ts';
import { commandExists, ensureDebianPackages } from '../../scripts/stack/processes.ts';

function venvWorks(): boolean {
  return spawnSync('python3', ['-c', 'import ensurepip, venv'], { stdio: 'ignore' }).status === 0;
}

/**
 * A virtual environment with the pinned packages of a requirements file, made once per
 * file content under ~/.cache/segstream (Python 3 and its venv module installed from
 * Debian's packages first when missing). Returns the directory of its executables.
 */
export function ensurePythonVenv(name: string, requirements: string, purpose: string, cacheDir: string = defaultKafkaCacheDir()): string {
  const key = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 10);
  const dir = join(cacheDir, `${name}-${key}`);
  const bin = join(dir, 'bin');
  // Made in place (its scripts name their interpreter by absolute path), complete once marked.
  const installed = join(dir, '.installed');
  if (existsSync(installed)) return bin;
  ensureDebianPackages(`Python 3 with venv (${purpose})`, ['python3', 'python3-venv'], () => commandExists('python3') && venvWorks());
  mkdirSync(cacheDir, { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  console.error(`[test] installing ${requirements} from PyPI into ${dir} (once) ...`);
  for (const [command, args] of [
    ['python3', ['-m', 'venv', dir]],
    [join(bin, 'python'), ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', requirements]],
  ] as const) {
    const result = spawnSync(command, args, { encoding: 'utf8' });
    if (result.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `${command} ${args.join(' ')} failed (exit code ${result.status}):\n${`${result.stdout}${result.stderr}`.trim().split('\n').slice(-15).join('\n')}`,
      );
    }
  }
  writeFileSync(installed, `${new Date().toISOString()}\n`);
  return bin;
}
