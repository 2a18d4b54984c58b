// The tuning cache's writes (src/gpu/node.ts: a hidden temporary file renamed into place) leave nothing
// behind when the disk is full: checked on a 64 KiB tmpfs, which needs `mount` (root); skipped elsewhere.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/gpu/node.js';
import { platform } from '../../src/gpu/platform.js';
import { skip } from '../skip.js';

const Cache = suite('tuning cache writes');

Cache('a write that does not fit (64 KiB tmpfs, 200 KB entry) fails and leaves no temporary file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'unet-cache-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return skip(`tuning cache on a full disk: mount -t tmpfs failed (${(r.error?.message ?? r.stderr).trim() || `exit ${r.status}`})`);
  }
  const saved = process.env.WEBGPU_UNET_CACHE;
  process.env.WEBGPU_UNET_CACHE = dir;
  try {
    const cache = platform().cache!;
    await cache.write('small.json', '{"ok":true}');
    let error: unknown;
    try {
      await cache.write('big.json', 'x'.repeat(200_000));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof Error && /ENOSPC/.test((error as NodeJS.ErrnoException).code ?? error.message), `expected ENOSPC, got ${String(error)}`);
    assert.equal(readdirSync(dir).sort(), ['small.json'], 'only the entry that fit is left');
    assert.is(await cache.read('small.json'), '{"ok":true}');
  } finally {
    if (saved === undefined) delete process.env.WEBGPU_UNET_CACHE;
    else process.env.WEBGPU_UNET_CACHE = saved;
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

Cache.run();
