// Dawn's two "maxDynamic...BuffersPerPipelineLayout artificially reduced" lines stay off a terminal or
// pipe (src/gpu/dawnLog.ts), everything else written to stderr meanwhile still arrives, and a stderr
// that is a regular file is left alone (not truncated, not reopened).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLAMP = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

/** Runs `script` (a module under ROOT) in bash with `redirect` applied to node's stderr. */
function run(script: string, redirect: string): { code: number | null; stdout: string } {
  // node's own spawn gives a child a socket for stderr, which cannot be reopened: bash makes a pipe
  const r = spawnSync('bash', ['-c', `node --import tsx ${script} ${redirect}`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, UNET_DAWN_LOG: '' } });
  return { code: r.status, stdout: r.stdout };
}

const Log = suite<{ dir: string; script: string }>('Dawn log filter');
Log.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'unet-dawnlog-'));
  ctx.script = join(ctx.dir, 'write.ts');
  // stands in for Dawn: writes to fd 2 from inside the filtered call, then once more after it
  writeFileSync(
    ctx.script,
    `import { writeSync } from 'node:fs';
import { withoutDawnLimitWarnings } from '${join(ROOT, 'src/gpu/dawnLog.ts')}';
const r = withoutDawnLimitWarnings(() => { writeSync(2, 'before\\n${CLAMP}\\n${CLAMP.replace('Uniform', 'Storage')}\\nafter\\n'); return 42; });
writeSync(2, 'result ' + r + '\\n');
`,
  );
});
Log.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

Log('stderr a pipe: the two clamp lines are dropped, other lines kept in order', ({ script }) => {
  const r = run(script, '2>&1 | cat');
  assert.is(r.code, 0);
  assert.is(r.stdout, 'before\nafter\nresult 42\n');
});

Log('stderr a regular file: left alone, nothing truncated or dropped', ({ dir, script }) => {
  const log = join(dir, 'err.log');
  writeFileSync(log, 'earlier\n');
  const r = run(script, `2>>${log}`);
  assert.is(r.code, 0);
  assert.is(readFileSync(log, 'utf8'), `earlier\nbefore\n${CLAMP}\n${CLAMP.replace('Uniform', 'Storage')}\nafter\nresult 42\n`);
});

Log('the real thing: getDevice() on this adapter prints no clamp line to a pipe', () => {
  const r = run(
    "-e \"import('./src/node.ts').then(async (m) => { const d = await m.getDevice(); d.destroy(); m.releaseGpu(); console.error('device ok'); process.exit(0); })\"",
    '2>&1 | cat',
  );
  assert.is(r.code, 0);
  assert.match(r.stdout, /device ok/);
  assert.not.match(r.stdout, /artificially reduced/);
});

Log.run();
