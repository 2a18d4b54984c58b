// `unet queue` and `unet worker` against a real redis-server (Debian's; scripts/setup-system.sh --redis),
// started here on a free loopback port with persistence off and a password, stopped after. 12 images, 3
// worker processes; one is SIGKILLed in the middle of writing its outputs (UNET_WRITE_PAUSE_MS holds each
// job between its temporary files), and BullMQ's stalled-job check hands its job to another worker. Then
// each output is there once, byte-equal to a single-process `unet segment`, with no temporary file left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { encodePng } from '../src/io/png.js';
import { ROOT, tempDirs, unet } from './cliRun.js';
import { haveRedis, startRedis, until } from './redis.js';
import { skip } from './skip.js';

const WEIGHTS = 'test/fixtures/gray.weights.safetensors';
const PASSWORD = 'pw-s3cret-Zq9';
const tmp = tempDirs('unet-queue-');
const children: ChildProcess[] = [];

async function redisWithPassword(): Promise<number> {
  const { port, redis } = await startRedis(['--requirepass', PASSWORD]);
  children.push(redis);
  return port;
}

function worker(url: string, queue: string, env: Record<string, string>): { p: ChildProcess; log: () => string; exit: Promise<number | null> } {
  let log = '';
  const p = spawn(process.execPath, ['bin/unet.js', 'worker', '--redis', url, '--queue', queue, '--lock-ms', '2000', '--stalled-ms', '1000'], {
    cwd: ROOT,
    env: { ...process.env, ...env, UNET_DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(p);
  p.stdout?.on('data', (b) => {
    log += String(b);
  });
  p.stderr?.on('data', (b) => {
    log += String(b);
  });
  const exit = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return { p, log: () => log, exit };
}

function makeImages(dir: string, n: number): void {
  mkdirSync(dir);
  for (let k = 0; k < n; k++) {
    const w = 40 + k;
    const h = 36;
    const data = Uint8Array.from({ length: w * h }, (_, i) => (i * (k + 3) * 37 + Math.floor(i / w) * 11) % 256);
    writeFileSync(join(dir, `img${String(k).padStart(2, '0')}.png`), encodePng({ width: w, height: h, channels: 1, data }));
  }
}

test.after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  tmp.cleanup();
});

test('12 inputs, 3 workers, one SIGKILLed mid-write: each output once, equal to unet segment, no temporaries, 12 completed', async () => {
  if (!haveRedis()) return skip('no redis-server (scripts/setup-system.sh --redis installs it)');
  const port = await redisWithPassword();
  const url = `redis://:${PASSWORD}@127.0.0.1:${port}`;
  const d = tmp.dir();
  const inDir = join(d, 'in');
  const out = join(d, 'out');
  makeImages(inDir, 12);
  const ref = unet('segment', inDir, '--weights', WEIGHTS, '--out-dir', join(d, 'ref'));
  assert.is(ref.code, 0, ref.stderr);

  const add = unet('queue', 'add', '--redis', url, '--queue', 'seg', '--attempts', '3', '--backoff-ms', '200', '--weights', WEIGHTS, '--out-dir', out, inDir);
  assert.is(add.code, 0, add.stderr);
  assert.match(add.stdout, /added 12 jobs/);
  const again = unet('queue', 'add', '--redis', url, '--queue', 'seg', '--weights', WEIGHTS, '--out-dir', out, inDir);
  assert.match(again.stdout, /added 0 jobs \(12 already in the queue/, 'the same inputs again: same ids, nothing added');

  // each job pauses 400 ms after each of its 2 temporary files, so a worker is caught mid-write
  const workers = [0, 1, 2].map(() => worker(url, 'seg', { UNET_WRITE_PAUSE_MS: '400' }));
  const victim = workers[0];
  let caught = '';
  await until('worker 0 writing a temporary file', 60_000, () => {
    caught = (existsSync(out) ? readdirSync(out) : []).find((n) => n.includes(`.tmp-${victim.p.pid}-`)) ?? '';
    return caught !== '';
  });
  victim.p.kill('SIGKILL');
  await victim.exit;
  const killedInput = caught.replace(/^\./, '').replace(/_(mask|overlay)\.png\.tmp-.*$/, '.png');

  const q = new Queue('seg', { connection: { url } });
  try {
    await until('12 completed jobs', 120_000, async () => (await q.getJobCounts('completed')).completed === 12);
    const st = unet('queue', 'status', '--redis', url, '--queue', 'seg', '--json');
    assert.is(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout);
    assert.is(status.counts.completed, 12);
    assert.is(status.counts.failed, 0);
    assert.is(status.counts.waiting, 0);
    assert.is(status.counts.active, 0);
    assert.ok(status.throughput.jobsPerSecond > 0);

    const jobs = await q.getCompleted(0, 99);
    const redone = jobs.find((j) => j.data.inputs[0].endsWith(`/${killedInput}`));
    assert.ok(redone, `the killed job (${killedInput}) completed`);
    const rv = redone.returnvalue as { worker: string; outputs: string[]; attempt: number };
    assert.not.match(rv.worker, new RegExp(`:${victim.p.pid}$`), 'another worker finished the killed job');
    assert.is(rv.outputs.length, 2);
    console.log(
      `\n  killed worker pid ${victim.p.pid} while it wrote ${caught}; job ${redone.id} (${killedInput}): attemptsStarted ${redone.attemptsStarted}, ` +
        `attemptsMade ${redone.attemptsMade}, stalledCounter ${redone.stalledCounter}, finished by ${rv.worker}; ` +
        `status ${status.counts.completed} completed, ${status.counts.failed} failed, ${status.throughput.jobsPerSecond} jobs/s`,
    );
    assert.ok(redone.attemptsStarted >= 2, 'the killed job was started again');
  } finally {
    await q.close();
  }

  // SIGTERM: the others finish what they hold and exit 0
  for (const w of workers.slice(1)) w.p.kill('SIGTERM');
  for (const w of workers.slice(1)) assert.is(await w.exit, 0, w.log());

  const refNames = readdirSync(join(d, 'ref')).sort();
  const outNames = readdirSync(out).sort();
  assert.equal(outNames, refNames, 'the same files as unet segment, each once, no temporaries');
  assert.is(outNames.length, 24);
  for (const n of refNames) assert.ok(readFileSync(join(out, n)).equals(readFileSync(join(d, 'ref', n))), `${n} equals unet segment's`);
  const logs = [add.stdout, add.stderr, ...workers.map((w) => w.log())].join('\n');
  assert.not.ok(logs.includes(PASSWORD), 'the password is never printed');
});

test('queue commands: a wrong password is one line without it; retry-failed and drain', async () => {
  if (!haveRedis()) return skip('no redis-server (scripts/setup-system.sh --redis installs it)');
  const port = await redisWithPassword();
  const bad = unet('queue', 'status', '--redis', `redis://:wrong-pass-123@127.0.0.1:${port}`, '--queue', 'x');
  assert.is(bad.code, 1, bad.stderr);
  const lines = bad.lines.filter((l) => l.startsWith('unet: '));
  assert.is(lines.length, 1, bad.stderr);
  assert.not.ok(bad.stderr.includes('wrong-pass-123'), bad.stderr);

  const url = `redis://:${PASSWORD}@127.0.0.1:${port}`;
  const d = tmp.dir();
  makeImages(join(d, 'in'), 3);
  // a job that fails: its output name is taken by a folder
  mkdirSync(join(d, 'out', 'img00_mask.png'), { recursive: true });
  const add = unet(
    'queue',
    'add',
    '--redis',
    url,
    '--queue',
    'f',
    '--attempts',
    '2',
    '--backoff-ms',
    '10',
    '--weights',
    WEIGHTS,
    '--out-dir',
    join(d, 'out'),
    join(d, 'in', 'img00.png'),
  );
  assert.is(add.code, 0, add.stderr);
  const w = worker(url, 'f', {});
  const q = new Queue('f', { connection: { url } });
  try {
    await until('a failed job', 60_000, async () => (await q.getJobCounts('failed')).failed === 1);
    const st = unet('queue', 'status', '--redis', url, '--queue', 'f');
    assert.match(st.stdout, /0 completed, 1 failed/);
    assert.match(st.stdout, /^failed unet-\w+ .*img00\.png after 1 attempt: .*img00_mask\.png/m, st.stdout);
    assert.is(st.stdout.trim().split('\n').length, 2, st.stdout);
    w.p.kill('SIGTERM');
    assert.is(await w.exit, 0, w.log());
    const retry = unet('queue', 'retry-failed', '--redis', url, '--queue', 'f');
    assert.match(retry.stdout, /1 failed job moved back to waiting/);
    assert.is((await q.getJobCounts('waiting')).waiting, 1);
    const drain = unet('queue', 'drain', '--redis', url, '--queue', 'f');
    assert.match(drain.stdout, /removed 1 waiting job/);
    assert.is((await q.getJobCounts('waiting')).waiting, 0);
  } finally {
    await q.close();
  }
});

test.run();
