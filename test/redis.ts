// A throwaway redis-server (Debian's; scripts/setup-system.sh --redis) for test/cli.queue.test.ts and
// bench/queue.ts: on a free loopback port, persistence off, killed by whoever started it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';

export function haveRedis(): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Polls `check` every 100 ms until it holds; throws, naming `what`, after `ms`. */
export async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1', () => {
      c.end();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });

/** Starts redis-server with `args` added (e.g. --requirepass) and waits until it accepts connections; a server
 *  that does not within 10 s is killed. */
export async function startRedis(args: string[] = []): Promise<{ port: number; redis: ChildProcess }> {
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', ...args], { stdio: 'ignore' });
  try {
    await until('redis-server', 10_000, () => canConnect(port));
  } catch (e) {
    redis.kill('SIGKILL');
    throw e;
  }
  return { port, redis };
}
