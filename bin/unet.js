#!/usr/bin/env node
// The `unet` command. In a development checkout (src/ and tsx present) it runs the TypeScript sources
// through tsx, so it never runs a stale build; an installed package runs its compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
let tsx;
if (existsSync(source)) {
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    // no dev dependencies: use the build
  }
}
if (tsx) {
  tsx.register();
  await import(source);
} else {
  await import(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)));
}
