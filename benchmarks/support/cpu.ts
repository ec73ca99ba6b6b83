import { readFileSync } from 'node:fs';

/** CPU seconds a process (or, with a thread id, one of its threads) has used so far (Linux /proc; user + system). */
export function cpuSecondsOf(pid: number, thread?: number): number {
  const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
  const fields = readFileSync(path, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
