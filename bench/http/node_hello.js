// The seed's program in Node, the reference for the HTTP benchmarks:
//
//     node node_hello.js [port] [delay_ms]
//
// port 0 (the default) picks a free port, which is printed; delay_ms (default 100) is the
// setTimeout before answering, and 0 answers synchronously inside the request handler.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 0);
const delayMs = Number(process.argv[3] === undefined ? 100 : process.argv[3]);

function answer(res) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('Hello World\n');
}

const server = http.createServer(
    delayMs === 0 ? (req, res) => answer(res) : (req, res) => setTimeout(() => answer(res), delayMs));

server.listen(port, '127.0.0.1', () => {
    console.log(`node listening on port ${server.address().port} (answers after ${delayMs} ms)`);
});
