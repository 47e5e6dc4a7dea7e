// Registers bench/lib/profile-loader.mjs: used instead of `--import tsx` for CPU-profiled
// case runs (AEROBAK_BENCH_PROFILE=1), so that profile positions map back to TS lines.
import { register } from 'node:module';

register('./profile-loader.mjs', import.meta.url);
