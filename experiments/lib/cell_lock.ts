/**
 * One process per cell: a lock file created exclusively in the cell's folder, holding the
 * owner's pid and host. A lock is stale (taken over) when its process is gone from this host,
 * or when it has not been touched for STALE_MS (a job killed on another node; the owner touches
 * it every HEARTBEAT_MS), so a SIGKILLed or requeued cell resumes without manual cleanup.
 */
const HEARTBEAT_MS = 30_000;
const STALE_MS = 10 * 60_000;

/** A cell this process must not run (held by another, or its folder holds another run). */
export class CellRefusedError extends Error {}
export class CellLockedError extends CellRefusedError {}

interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    // Without /proc (macOS) liveness is unknown: only the heartbeat can tell.
    return !(e instanceof Deno.errors.NotFound) || !procExists();
  }
}

function procExists(): boolean {
  try {
    Deno.statSync("/proc/self");
    return true;
  } catch {
    return false;
  }
}

async function readLock(path: string): Promise<{ info?: LockInfo; mtime: number } | undefined> {
  try {
    const st = await Deno.stat(path);
    let info: LockInfo | undefined;
    try {
      info = JSON.parse(await Deno.readTextFile(path));
    } catch { /* torn or empty: judged by its age */ }
    return { info, mtime: st.mtime?.getTime() ?? 0 };
  } catch {
    return undefined;
  }
}

/** Takes the lock of `dir` (throws CellLockedError naming the owner); returns its release. */
export async function lockCell(dir: string, id: string): Promise<() => Promise<void>> {
  const path = `${dir}/lock`;
  const me: LockInfo = { pid: Deno.pid, host: Deno.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const f = await Deno.open(path, { write: true, createNew: true });
      await f.write(new TextEncoder().encode(JSON.stringify(me) + "\n"));
      f.close();
      const beat = setInterval(() => {
        const now = new Date();
        Deno.utime(path, now, now).catch(() => {});
      }, HEARTBEAT_MS);
      Deno.unrefTimer(beat);
      return async () => {
        clearInterval(beat);
        await Deno.remove(path).catch(() => {});
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const held = await readLock(path);
    if (!held) continue; // released in between
    const { info, mtime } = held;
    const gone = info && info.host === me.host && info.pid !== me.pid && !alive(info.pid);
    if (gone || Date.now() - mtime > STALE_MS) {
      await Deno.remove(path).catch(() => {});
      continue;
    }
    throw new CellLockedError(
      `cell ${id} is being run by ${
        info ? `pid ${info.pid} on ${info.host} since ${info.since}` : "another process"
      } (${path}); refusing to run it twice. If that process is gone, delete the lock file.`,
    );
  }
  throw new CellLockedError(`cell ${id}: could not take ${path} (another process races for it)`);
}
