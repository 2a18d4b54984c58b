// scripts/debian-mirror.sh: which archive URI the backports source reuses, on sample apt configurations
// (written to temporary folders; this machine's /etc/apt is never read or changed).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/debian-mirror.sh', import.meta.url));
const FALLBACK = 'http://deb.debian.org/debian';

const Mirror = suite<{ root: string; n: number }>('scripts/debian-mirror.sh');
Mirror.before((ctx) => {
  ctx.root = mkdtempSync(join(tmpdir(), 'unet-apt-'));
  ctx.n = 0;
});
Mirror.after((ctx) => rmSync(ctx.root, { recursive: true, force: true }));

/** Writes `files` (paths relative to an apt folder) and returns what the script prints for `codename`. */
function mirror(ctx: { root: string; n: number }, files: Record<string, string>, codename = 'bookworm'): string {
  const apt = join(ctx.root, `apt${ctx.n++}`);
  mkdirSync(join(apt, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(apt, name)), { recursive: true });
    writeFileSync(join(apt, name), text);
  }
  return execFileSync('bash', [SCRIPT, codename, apt], { encoding: 'utf8' }).trim();
}

Mirror('deb822 (Debian 12 default layout): the main archive, not the security one listed first', (ctx) => {
  const sources = `Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
  assert.is(mirror(ctx, { 'sources.list.d/debian.sources': sources }), 'http://mirror.example/debian');
});

Mirror('one-line format: [options] with spaces, comments, deb-src and cdrom skipped, a proxy URI kept', (ctx) => {
  const list = `# deb http://commented.example/debian bookworm main
deb cdrom:[Debian GNU/Linux 12 _Bookworm_]/ bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://apt-cacher.local:3142/deb.debian.org/debian bookworm main contrib # proxy
deb http://security.debian.org/debian-security bookworm-security main
`;
  assert.is(mirror(ctx, { 'sources.list': list }), 'http://apt-cacher.local:3142/deb.debian.org/debian');
});

Mirror('other repositories whose suite only contains the codename are not Debian mirrors; none found -> deb.debian.org', (ctx) => {
  const files = {
    'sources.list.d/google.list': 'deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n',
    'sources.list.d/nodesource.sources': 'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\nComponents: main\n',
    'sources.list.d/security.sources': 'Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n',
  };
  assert.is(mirror(ctx, files), FALLBACK);
});

Mirror('the codename itself wins over -updates; Enabled: no and other codenames are skipped; field names in any case', (ctx) => {
  const files = {
    'sources.list': 'deb http://updates-only.example/debian bookworm-updates main\ndeb http://old.example/debian bullseye main\n',
    'sources.list.d/a.sources':
      'Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nEnabled: no\n\ntypes: deb\nuris: http://main.example/debian http://second.example/debian\nsuites: bookworm\n',
  };
  assert.is(mirror(ctx, files), 'http://main.example/debian');
  assert.is(mirror(ctx, { 'sources.list': files['sources.list'] }), 'http://updates-only.example/debian');
  assert.is(mirror(ctx, { 'sources.list': files['sources.list'] }, 'bullseye'), 'http://old.example/debian');
});

Mirror('no sources at all -> deb.debian.org', (ctx) => {
  assert.is(mirror(ctx, {}), FALLBACK);
});

Mirror.run();
