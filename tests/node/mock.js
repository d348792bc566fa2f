'use strict';
// mock: what the node tests share: PASS:/FAIL: reporting, assertions, and scripts/dsw_mock_server.py
// started on a free loopback port with its /_mock/ control API.

const path = require('path');
const http = require('http');
const { spawn } = require('child_process');

const MOCK = path.resolve(__dirname, '..', '..', 'scripts', 'dsw_mock_server.py');

// A reporter for one suite: pass(name), fail(name, err), failures().
function reporter(suite) {
  let failures = 0;
  return {
    pass(name) { console.log(`PASS: ${suite}.${name}`); },
    fail(name, err) {
      failures++;
      for (const line of String((err && err.stack) || err).split('\n')) console.log(`  ${line}`);
      console.log(`FAIL: ${suite}.${name}`);
    },
    failures() { return failures; },
  };
}

function assert(cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`); }
function eq(a, b, msg) {
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  if (ja !== jb) throw new Error(`${msg}: ${ja.slice(0, 400)} != ${jb.slice(0, 400)}`);
}

// The environment must not send the engines through a proxy or hand them other credentials.
function cleanEnv() {
  for (const k of Object.keys(process.env)) {
    if (/^(https?|no|all)_proxy$/i.test(k) || k.startsWith('ALIBABA_CLOUD_')) delete process.env[k];
  }
}

// Resolves to { proc, host, port } once the server prints its listening line.
function startServer(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.env.PYTHON || 'python3', [MOCK, '--port', '0'].concat(args),
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { proc.kill(); reject(new Error(`server did not start: ${err}`)); }, 20000);
    proc.stderr.on('data', (d) => { err += d; });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^listening on (127\.0\.0\.1):(\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, host: m[1], port: Number(m[2]) }); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${err}`)); });
  });
}

// One control API call: resolves to { status, body (parsed JSON or null) }.
function control(srv, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request({ host: srv.host, port: srv.port, method, path: `/_mock/${p}`,
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

module.exports = { reporter, assert, eq, cleanEnv, startServer, control };
