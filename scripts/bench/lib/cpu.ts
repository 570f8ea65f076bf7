import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/*
 * CPU seconds (user + system) a process has used, from /proc (Linux). On a loaded machine a
 * transfer's CPU seconds per GiB move far less than its MB/s: what the bench compares by.
 */

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds of this process's children that have exited and been waited for (cutime + cstime). */
export function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** This process's CPU seconds (all its threads: GC helpers and the thread pool too). */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Minor page faults a process has taken (a fault per fresh 4 KiB page it touched), from /proc. */
export function minorFaultsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return Number(fields[7]);
}
