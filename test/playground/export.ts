// Our side of the playground's smp fixtures, for tools/smp_playground.py fixtures (not a test):
//   npx tsx test/playground/export.ts OUTDIR
// writes OUTDIR/NAME.config.json (smpConfigJson) for every case of cases.ts and OUTDIR/NAME.safetensors
// (modelSafetensors, random, the case's seed) for the forward cases; prints the names written, one a line.
// It writes only when run as the script (uvu given the folder without a pattern imports every file in it).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelSafetensors, smpConfigJson } from '../../src/index.js';
import { COUNT_CASES, FORWARD_CASES, PRETRAINED_CASES } from './cases.js';

function main(out: string | undefined): void {
  if (!out) {
    console.error('usage: npx tsx test/playground/export.ts OUTDIR');
    process.exit(2);
  }
  mkdirSync(out, { recursive: true });
  for (const [name, , o] of [...COUNT_CASES, ...PRETRAINED_CASES]) {
    writeFileSync(join(out, `${name}.config.json`), smpConfigJson(o));
    console.log(name);
  }
  for (const [name, o, seed] of FORWARD_CASES) {
    writeFileSync(join(out, `${name}.config.json`), smpConfigJson(o));
    writeFileSync(join(out, `${name}.safetensors`), modelSafetensors(o, { random: { seed } }));
    console.log(name);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv[2]);
