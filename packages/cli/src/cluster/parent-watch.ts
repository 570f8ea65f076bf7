/**
 * Started by a launcher or a test harness (DFS_PARENT_PID) that has died — SIGKILLed, say —
 * a process calls `stop` instead of lingering with its ports, namespaces and files.
 */
export function stopWhenParentDies(stop: () => void): void {
  const parent = Number(process.env.DFS_PARENT_PID);
  if (!(parent > 0)) return;
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      stop();
    }
  }, 1000).unref();
}
