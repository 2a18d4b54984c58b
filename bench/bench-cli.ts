// `unet bench` as a standalone entry, bundled by bench/gpu-run.sh for machines without the dev tools.
import { bench } from '../src/cli/bench.js';

process.exit(await bench(process.argv.slice(2)));
