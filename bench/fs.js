// Node's side of the fs benchmarks (bench/bench_fs.c and bench/serve_file.sh).
//
//   node fs.js read FILE        one warm-up fs.readFile, then one timed; prints
//                               "wall_ns cpu_ns bytes" (CPU: process.cpuUsage, all threads)
//   node fs.js serve FILE PORT  HTTP server answering every request with
//                               fs.createReadStream(FILE).pipe(res)
'use strict';
const fs = require('fs');
const http = require('http');

const [mode, file, port] = process.argv.slice(2);

if (mode === 'read') {
  fs.readFile(file, (err, warm) => {
    if (err) throw err;
    warm = null;
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fs.readFile(file, (err2, data) => {
      const t1 = process.hrtime.bigint();
      const c = process.cpuUsage(c0);
      if (err2) throw err2;
      process.stdout.write(`${t1 - t0} ${(c.user + c.system) * 1000} ${data.length}\n`);
    });
  });
} else if (mode === 'serve') {
  const size = fs.statSync(file).size;
  http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', size);
    fs.createReadStream(file).pipe(res);
  }).listen(Number(port), '127.0.0.1', () => console.log(`node serving ${file} on ${port}`));
} else {
  console.error('usage: node fs.js read FILE | serve FILE PORT');
  process.exit(2);
}
