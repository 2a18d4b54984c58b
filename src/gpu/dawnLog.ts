// Dawn's adapter discovery prints two lines on stderr from native code on most Vulkan drivers:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
// Their cause is not what we request: the driver reports those limits far above Dawn's own cap of 16
// (lavapipe 1000000, RADV 500000, NVIDIA above 16 too) and Dawn clamps them while it builds the
// adapter list (NormalizeLimits in dawn/native/Limits.cpp), writing with fprintf(stderr) and with no
// switch to turn that off (dawn/common/Log.cpp). The engine uses no dynamic offsets at all.
// Discovery runs synchronously inside an instance's first requestAdapter(), so that one call runs with
// fd 2 pointed at an unlinked temporary file; afterwards everything it caught except those two lines is
// written to the real stderr. Only where that is safe: Linux, stderr a terminal or a pipe (reopened
// through /proc; a regular file is not reopened, its offset is shared with stdout in `>log 2>&1`; a
// socket cannot be reopened), stdin and stdout open (so the freed fd 2 is the lowest). UNET_DAWN_LOG=1
// leaves stderr alone.
import { closeSync, constants, fstatSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAWN_LIMIT_CLAMP =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/** Runs `fn` (synchronous) with Dawn's limit-clamping warnings kept off stderr, where that is safe. */
export function withoutDawnLimitWarnings<T>(fn: () => T): T {
  const capture = redirectStderr();
  if (!capture) return fn();
  try {
    return fn();
  } finally {
    const text = capture.restore();
    const kept = text.split('\n').filter((line, i, all) => !DAWN_LIMIT_CLAMP.test(line) && !(i === all.length - 1 && line === ''));
    if (kept.length) writeSync(2, `${kept.join('\n')}\n`);
  }
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Points fd 2 at a temporary file; `restore()` puts the original stderr back and returns what was caught. */
function redirectStderr(): { restore(): string } | undefined {
  if (process.platform !== 'linux' || (process.env.UNET_DAWN_LOG ?? '') !== '' || !isOpen(0) || !isOpen(1)) return undefined;
  let saved: number | undefined;
  let caught: number | undefined;
  try {
    const st = fstatSync(2);
    if (!st.isFIFO() && !st.isCharacterDevice()) return undefined;
    // A second description of the same terminal or pipe. O_NONBLOCK: fails (ENXIO) instead of waiting
    // when the pipe has no reader left.
    saved = openSync('/proc/self/fd/2', constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    const path = join(tmpdir(), `webgpu-unet-dawn-${process.pid}-${Date.now()}.log`);
    caught = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
    unlinkSync(path);
  } catch {
    for (const fd of [saved, caught]) if (fd !== undefined) closeSync(fd);
    return undefined;
  }
  const original = saved;
  const file = caught;
  // From here fd 2 is reassigned: close it, and the next open takes its number.
  closeSync(2);
  const reopen = (target: number) => {
    const fd = openSync(`/proc/self/fd/${target}`, constants.O_WRONLY | constants.O_APPEND | constants.O_NOCTTY);
    if (fd !== 2) closeSync(fd);
  };
  try {
    reopen(file);
  } catch {
    // fd 2 stays closed until restore() reopens the original
  }
  return {
    restore() {
      if (isOpen(2)) closeSync(2);
      reopen(original);
      closeSync(original);
      try {
        return readFileSync(`/proc/self/fd/${file}`, 'utf8');
      } finally {
        closeSync(file);
      }
    },
  };
}
