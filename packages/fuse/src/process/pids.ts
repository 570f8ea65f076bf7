/** What signal 0 says about a pid: ours to signal, another user's, or no such process. */
export function probePid(pid: number): 'ours' | 'foreign' | 'gone' {
  try {
    process.kill(pid, 0);
    return 'ours';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'foreign' : 'gone';
  }
}
