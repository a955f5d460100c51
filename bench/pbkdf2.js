// Node's side of bench_pbkdf2: four crypto.pbkdf2 calls at once on the libuv pool (run with
// UV_THREADPOOL_SIZE=4), timed from the first call to the last callback. The pool is warmed up
// first (its threads start lazily), as the C side does, so only the hashing is measured.
// Prints one line: "wall_ms=<ms> cpu_ms=<ms>".
'use strict';
const crypto = require('node:crypto');

const JOBS = 4;
const ITERATIONS = Number(process.env.PBKDF2_ITERATIONS || 100000);
const KEYLEN = Number(process.env.PBKDF2_KEYLEN || 512);

function round(iterations, done) {
    let left = JOBS;
    for (let i = 0; i < JOBS; i++) {
        crypto.pbkdf2('password', 'salt', iterations, KEYLEN, 'sha512', (err) => {
            if (err) throw err;
            if (--left === 0) done();
        });
    }
}

round(1, () => {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    round(ITERATIONS, () => {
        const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const cpu = process.cpuUsage(cpu0);
        const cpuMs = (cpu.user + cpu.system) / 1000;
        console.log(`wall_ms=${wallMs.toFixed(2)} cpu_ms=${cpuMs.toFixed(2)}`);
    });
});
