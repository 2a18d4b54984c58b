// unet --weights URL: a model over http(s), as the library loads one (test/io/fetch.test.ts), with the
// command's limits; outputs equal to the same model read from its file. The CLI runs as a child process
// while this process serves the model on 127.0.0.1, so the child is awaited, not run with spawnSync.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { downloadProgress } from '../src/cli/model.js';
import { ROOT, type Result, assertOneLineError, tempDirs } from './cliRun.js';
import { type LocalServer, localServer } from './localServer.js';
import { skip } from './skip.js';

const WEIGHTS = 'test/fixtures/b2_rgb.weights.safetensors'; // 3 -> 1 channels, init_features 4, depth 4
const IO = 'test/fixtures/b2_rgb.io.safetensors'; // input [2, 3, 32, 32]
const SMP = 'test/fixtures/smp/r18_d5_sigmoid'; // save_pretrained folder: config.json + model.safetensors
const DAWN_LOG = /^Warning: /;

/** `node bin/unet.js ...args` as a child process, awaited (this process keeps serving meanwhile). */
function unetAsync(...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/unet.js', ...args], { cwd: ROOT, env: { ...process.env, UNET_DEBUG: '' }, timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, lines: stderr.split('\n').filter((l) => l !== '' && !DAWN_LOG.test(l)) }));
  });
}

const outputOf = (path: string) => parseSafetensors(readFileSync(path), path).getF32('output');

interface Ctx {
  server: LocalServer;
  base: string;
  requests: string[];
}

const Cli = suite<Ctx>('unet --weights URL (local HTTP server)');
const tmp = tempDirs('unet-url-');

Cli.before(async (ctx) => {
  ctx.requests = [];
  const files: Record<string, string> = {
    '/b2_rgb.safetensors': WEIGHTS,
    '/smp/config.json': join(SMP, 'config.json'),
    '/smp/model.safetensors': join(SMP, 'model.safetensors'),
  };
  ctx.server = await localServer((req, res) => {
    const path = req.url ?? '';
    ctx.requests.push(path);
    if (path === '/silent.safetensors') return ctx.server.keepOpen(() => res.destroy()); // never answers
    const file = files[path];
    if (!file || !existsSync(file)) {
      res.writeHead(404, 'Not Found');
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  ctx.base = ctx.server.base;
});

Cli.after(async (ctx) => {
  await ctx.server.close();
  tmp.cleanup();
});

Cli('infer --weights URL writes the output the file gives, bit for bit; nothing on stderr but the timing line (not a terminal)', async (ctx) => {
  const d = tmp.dir();
  const [fromUrl, fromFile] = [join(d, 'url.safetensors'), join(d, 'file.safetensors')];
  const u = await unetAsync('infer', '--weights', `${ctx.base}/b2_rgb.safetensors`, '--input', IO, '--out', fromUrl);
  assert.is(u.code, 0, u.stderr);
  assert.is(u.lines.length, 1, u.stderr);
  assert.match(u.lines[0], /^unet infer: \[2,3,32,32\] -> \[2,1,32,32\]; /);
  const f = await unetAsync('infer', '--weights', WEIGHTS, '--input', IO, '--out', fromFile);
  assert.is(f.code, 0, f.stderr);
  const [a, b] = [outputOf(fromUrl), outputOf(fromFile)];
  assert.is(a.length, 2 * 32 * 32);
  assert.ok(
    a.every((v, i) => v === b[i]),
    'same output',
  );
});

Cli('info --weights URL/ reads an smp folder (config.json, model.safetensors): the same model as the folder', async (ctx) => {
  if (!existsSync(join(SMP, 'model.safetensors'))) return skip(`${SMP}/model.safetensors missing (/usr/bin/python3 tools/make_smp_fixtures.py --weights)`);
  ctx.requests.length = 0;
  const u = await unetAsync('info', '--weights', `${ctx.base}/smp/`, '--json');
  const f = await unetAsync('info', '--weights', SMP, '--json');
  assert.is(u.code, 0, u.stderr);
  assert.is(f.code, 0, f.stderr);
  assert.equal(ctx.requests, ['/smp/config.json', '/smp/model.safetensors']);
  const [ju, jf] = [JSON.parse(u.stdout), JSON.parse(f.stdout)];
  assert.is(ju.source, `${ctx.base}/smp/model.safetensors`);
  for (const j of [ju, jf]) delete j.source;
  assert.equal(ju, jf);
});

Cli('a URL the CLI cannot fetch is one line naming it, not "cannot read (ENOENT)"; --limit headersTimeoutMs ends a silent server', async (ctx) => {
  const d = tmp.dir();
  const closed = await localServer(() => undefined);
  await closed.close(); // its port, now with nothing listening
  const refused = await unetAsync('info', '--weights', `${closed.base}/x.safetensors`);
  assertOneLineError(refused, new RegExp(`^unet: ${closed.base}/x\\.safetensors: cannot fetch \\(fetch failed: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\)$`));
  const missing = await unetAsync('infer', '--weights', `${ctx.base}/missing.safetensors`, '--input', IO, '--out', join(d, 'y.safetensors'));
  assertOneLineError(missing, new RegExp(`^unet: ${ctx.base}/missing\\.safetensors: HTTP 404 Not Found$`));
  const t0 = performance.now();
  const silent = await unetAsync(
    'infer',
    '--weights',
    `${ctx.base}/silent.safetensors`,
    '--input',
    IO,
    '--out',
    join(d, 'y.safetensors'),
    '--limit',
    'headersTimeoutMs=300',
  );
  assertOneLineError(
    silent,
    new RegExp(`^unet: ${ctx.base}/silent\\.safetensors: no response headers within 300 ms \\(raise with --limit headersTimeoutMs=N\\)$`),
  );
  assert.ok(performance.now() - t0 < 30_000, 'well before the 30 s default');
});

Cli('--help of infer, segment, info and tune says --weights takes a path or an http(s) URL', async () => {
  for (const cmd of ['infer', 'segment', 'info', 'tune']) {
    const r = await unetAsync(cmd, '--help');
    assert.is(r.code, 0, r.stderr);
    assert.match(
      r.stdout.replace(/\s+/g, ' '),
      /--weights PATH +a safetensors state_dict .* as a path or an http\(s\) URL \(a URL ending in \/ names such a folder\)/,
      cmd,
    );
  }
});

// ---

/** A stream that records what is written, a terminal or not. */
function fakeStderr(isTTY: boolean): NodeJS.WriteStream & { written: string[] } {
  const written: string[] = [];
  return { isTTY, columns: 80, written, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream & { written: string[] };
}

const Progress = suite('the download progress line');

Progress('a terminal: redrawn in place (at most every 100 ms, and at the end), then cleared; a pipe: nothing', () => {
  const tty = fakeStderr(true);
  const p = downloadProgress('http://h/m.safetensors', tty);
  p.update({ loaded: 1024 * 1024, total: 2 * 1024 * 1024 });
  p.update({ loaded: 1536 * 1024, total: 2 * 1024 * 1024 }); // within 100 ms: not drawn
  p.update({ loaded: 2 * 1024 * 1024, total: 2 * 1024 * 1024 }); // the end: drawn
  p.clear();
  assert.equal(tty.written, [
    '\r\x1b[Kunet: downloading http://h/m.safetensors: 1.0 MiB of 2.0 MiB',
    '\r\x1b[Kunet: downloading http://h/m.safetensors: 2.0 MiB of 2.0 MiB',
    '\r\x1b[K',
  ]);
  const noLength = fakeStderr(true);
  downloadProgress('u', noLength).update({ loaded: 512 });
  assert.equal(noLength.written, ['\r\x1b[Kunet: downloading u: 512 bytes']);
  const pipe = fakeStderr(false);
  const q = downloadProgress('u', pipe);
  q.update({ loaded: 1, total: 1 });
  q.clear();
  assert.equal(pipe.written, []);
});

Cli.run();
Progress.run();
