// The engine's name and version, from package.json (read at run time: the file sits two levels up both
// from src/cli/ and from the built dist/cli/).
import { readFileSync } from 'node:fs';

export const ENGINE_NAME = 'webgpu-unet';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    return pkg.name === ENGINE_NAME && typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const ENGINE_VERSION = readVersion();
