// Runs one test file with uvu (each file in its own process: servers and temp dirs never leak across files).
import { run } from 'uvu/run';
import { resolve } from 'node:path';
await run([{ name: process.argv[2], file: resolve(process.argv[2]) }], {});
