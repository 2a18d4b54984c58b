// `unet tune` as a standalone entry, bundled by bench/gpu-run.sh for machines without the dev tools.
import { tune } from '../src/cli/tune.js';

process.exit(await tune(process.argv.slice(2)));
