// test_sign_diff: holds dswfs's ACS3-HMAC-SHA256 signer (through build/tools/sign_cli) against
// Alibaba Cloud's own signer from @alicloud/openapi-core and @alicloud/openapi-util, on the
// published vectors, hand-picked edge cases and many seeded pseudo-random requests.
// Prints PASS:/FAIL: lines; exits 1 on any mismatch, and FAILS (never skips) when the official
// packages or the sign_cli binary are missing.
'use strict';

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const CLI = process.env.SIGN_CLI || path.resolve(__dirname, '../../build/tools/sign_cli');
const SEED = Number(process.env.SIGN_DIFF_SEED || 20240601);
const NCASES = Number(process.env.SIGN_DIFF_CASES || 500);
const ALG = 'ACS3-HMAC-SHA256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

let failed = 0;
function pass(name, extra) {
  console.log(`PASS: sign_diff.${name}${extra ? ' (' + extra + ')' : ''}`);
}
function fail(name, lines) {
  failed++;
  console.log(`FAIL: sign_diff.${name}`);
  for (const l of lines || []) console.log('  ' + String(l).replace(/\n/g, '\\n'));
}

// The official signers. openapi-core is the engine the current SDKs use; openapi-util is the
// older shared utility. Both are held against ours (and against each other).
let core, util;
try {
  core = require('@alicloud/openapi-core/dist/utils').default;
  util = require('@alicloud/openapi-util').default;
  if (typeof core.getAuthorization !== 'function' || typeof util.getAuthorization !== 'function' ||
      typeof util.getEncodePath !== 'function') {
    throw new Error('getAuthorization/getEncodePath not found in the installed packages');
  }
} catch (e) {
  fail('load_official', [`cannot load Alibaba Cloud's signer from ${path.join(__dirname, 'node_modules')}:`,
    e.message, 'run: (cd tests/node && npm ci)']);
  process.exit(1);
}
if (!fs.existsSync(CLI)) {
  fail('sign_cli_present', [`${CLI} does not exist: build it with \`make test-bins\` ` +
    '(or point SIGN_CLI at one)']);
  process.exit(1);
}

// A case: {name, method, path (raw), query {name: raw value}, headers {name: value} or
// [[name, value], ...], body (string) or payload_hash, access_key_id, access_key_secret}.
function officialPathname(raw) {
  // The SDK hands getAuthorization an already encoded path (generated clients encode each
  // segment); the canonical form of an empty path is "/" (facts, step 3).
  return raw === '' ? '/' : util.getEncodePath(raw);
}

function payloadHash(c) {
  if (c.payload_hash !== undefined) return c.payload_hash;
  return crypto.createHash('sha256').update(Buffer.from(c.body || '', 'utf8')).digest('hex');
}

function headerObject(c) {
  if (!Array.isArray(c.headers)) return c.headers || {};
  const o = {};
  for (const [k, v] of c.headers) {
    if (Object.prototype.hasOwnProperty.call(o, k)) throw new Error(`duplicate header key ${k}`);
    o[k] = v;
  }
  return o;
}

let lastCanonical = null;
function officialAuth(signer, c) {
  const request = {
    method: c.method,
    pathname: officialPathname(c.path),
    query: c.query || {},
    headers: headerObject(c),
  };
  const hash = signer.hash;
  signer.hash = function (raw, alg) { lastCanonical = raw.toString('utf8'); return hash.call(this, raw, alg); };
  try {
    return signer.getAuthorization(request, ALG, payloadHash(c), c.access_key_id, c.access_key_secret);
  } finally {
    signer.hash = hash;
  }
}

function runCli(cases, args) {
  const input = cases.map((c) => JSON.stringify({
    method: c.method, path: c.path, query: c.query || {}, headers: c.headers || {},
    ...(c.payload_hash !== undefined ? { payload_hash: c.payload_hash } : { body: c.body || '' }),
    access_key_id: c.access_key_id, access_key_secret: c.access_key_secret,
  })).join('\n') + '\n';
  const r = childProcess.spawnSync(CLI, args || [], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`cannot run ${CLI}: ${r.error.message}`);
  const out = r.stdout.split('\n');
  if (out[out.length - 1] === '') out.pop();
  if (r.status !== 0 || out.length !== cases.length) {
    throw new Error(`${CLI} exited ${r.status} with ${out.length} lines for ${cases.length} cases; ` +
      `stderr: ${r.stderr.slice(0, 500)}; first error: ${out.find((l) => l.startsWith('ERROR')) || '-'}`);
  }
  return out;
}

// Compares every case; returns the list of mismatch descriptions.
function compare(cases) {
  const ours = runCli(cases);
  const problems = [];
  cases.forEach((c, i) => {
    const a = officialAuth(core, c);
    const officialCanonical = lastCanonical;
    const b = officialAuth(util, c);
    const why = [];
    if (a !== b) why.push(`openapi-core and openapi-util disagree: ${a} vs ${b}`);
    if (ours[i] !== a) why.push(`ours:     ${ours[i]}`, `official: ${a}`);
    if (why.length) {
      const ourCanonical = JSON.parse(runCli([c], ['--canonical'])[0]);
      problems.push({ index: i, name: c.name, lines: [...why, `case: ${JSON.stringify(c)}`,
        `our canonical:      ${JSON.stringify(ourCanonical)}`,
        `official canonical: ${JSON.stringify(officialCanonical)}`] });
    }
  });
  return problems;
}

// ---- the published vectors, through the official code too (proves we drive it correctly)
const vector1 = {
  name: 'vector1_run_instances',
  method: 'POST', path: '/',
  query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
  headers: {
    host: 'ecs.cn-shanghai.aliyuncs.com', 'x-acs-action': 'RunInstances',
    'x-acs-version': '2014-05-26', 'x-acs-date': '2023-10-26T10:22:32Z',
    'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d', 'x-acs-content-sha256': EMPTY_SHA256,
  },
  payload_hash: EMPTY_SHA256, access_key_id: 'YourAccessKeyId', access_key_secret: 'YourAccessKeySecret',
  expect: '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
};
const vector2 = {
  name: 'vector2_empty_path_repeated_header',
  method: '', path: '', query: { test: 'ok', empty: '' },
  headers: [['x-acs-test', 'http'], ['X-ACS-TEST', 'https']],
  payload_hash: '55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23',
  access_key_id: 'acesskey', access_key_secret: 'secret',
  expect: '4ab59fffe3c5738ff8a2729f90cc04fe18b02a4b15b2102cbaf92f9ff3df2ea3',
};
for (const v of [vector1, vector2]) {
  const a = officialAuth(core, v);
  if (a.endsWith(`Signature=${v.expect}`)) pass(`official_${v.name}`);
  else fail(`official_${v.name}`, [`official signer gives ${a}, published ${v.expect}`]);
}

// ---- hand-picked cases
const std = (extra) => Object.assign({
  host: 'pai-dsw.cn-hangzhou.aliyuncs.com', 'x-acs-action': 'ListInstances',
  'x-acs-version': '2022-01-01', 'x-acs-date': '2024-05-06T07:08:09Z',
  'x-acs-signature-nonce': 'b0b2c4f2e0a54a4c9d7b1e2f3a4b5c6d', 'x-acs-content-sha256': EMPTY_SHA256,
  'user-agent': 'dswfs/0.1.0', accept: 'application/json',
}, extra || {});
const base = { method: 'GET', path: '/api/v2/instances', payload_hash: EMPTY_SHA256,
  access_key_id: 'LTAI5tTestAccessKeyId', access_key_secret: 'TestAccessKeySecret+/=' };
const fixed = [
  vector1, vector2,
  { ...base, name: 'list_instances_plain', query: { PageNumber: '1', PageSize: '100', WorkspaceId: 'ALL', ResourceId: 'ALL' }, headers: std() },
  { ...base, name: 'labels_json', query: { Labels: '{"team":"ml platform","env":"测试"}', PageSize: '10' }, headers: std() },
  { ...base, name: 'tag_json_array', query: { Tag: '[{"Key":"k 1","Value":"v*1~"}]' }, headers: std() },
  { ...base, name: 'status_commas', query: { Status: 'Running,Stopped,EnvPreparing', InstanceId: 'dsw-1,dsw-2' }, headers: std() },
  { ...base, name: 'space_star_tilde_plus', query: { InstanceName: 'a b*c~d+e=f&g/h%i' }, headers: std() },
  { ...base, name: 'empty_values', query: { A: '', B: '', WorkspaceId: '' }, headers: std() },
  { ...base, name: 'all_printable_ascii', query: { V: Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('') }, headers: std() },
  { ...base, name: 'control_chars', query: { V: '\t\n\r\x01\x1f\x7f' }, headers: std() },
  { ...base, name: 'unicode_everywhere', path: '/api/v2/instances/实例 é😀', query: { InstanceName: 'ñoño 😀 测试 Ω' }, headers: std({ 'x-acs-note': 'héllo 测试' }) },
  { ...base, name: 'sts_headers', query: { PageSize: '100' }, headers: std({ 'x-acs-security-token': 'CAIS+token/with==padding', 'x-acs-accesskey-id': 'STS.NUabc' }) },
  { ...base, name: 'content_type_signed', method: 'POST', body: '{"a":1}', query: {}, headers: std({ 'Content-Type': 'application/json; charset=utf-8' }) },
  { ...base, name: 'mixed_case_and_trim', query: {}, headers: { Host: '  h.example  ', 'X-Acs-Date': '\t2024-01-01T00:00:00Z ', 'X-ACS-Version': ' 2022-01-01', 'User-Agent': ' x ' } },
  { ...base, name: 'case_variant_duplicates', query: {}, headers: [['x-acs-dup', ' alpha '], ['X-Acs-Dup', 'beta'], ['X-ACS-DUP', '\tgamma']] },
  { ...base, name: 'no_signed_headers', query: { a: 'b' }, headers: { 'user-agent': 'u', accept: '*/*' } },
  { ...base, name: 'empty_header_value', query: {}, headers: std({ 'x-acs-empty': '', 'x-acs-blank': '   ' }) },
  { ...base, name: 'path_specials', path: '/a b/c*d/~e/+f/=g/%7E/', query: {}, headers: std() },
  { ...base, name: 'empty_path', path: '', query: {}, headers: std() },
  { ...base, name: 'root_path', path: '/', query: {}, headers: std() },
  { ...base, name: 'unicode_secret', access_key_secret: 'sëcret-测试-😀', query: { a: '1' }, headers: std() },
  { ...base, name: 'body_hash', method: 'PUT', body: 'some body ✓', query: { a: '1' }, headers: std() },
  { ...base, name: 'many_params', query: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`P${(i * 37) % 60}x`, `v${i} ${'*'.repeat(i % 3)}`])), headers: std() },
];

// ---- seeded pseudo-random cases
function mulberry32(a) {
  return function () {
    a |= 0; a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(SEED);
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];
const chance = (p) => rnd() < p;

const API_PARAMS = ['AcceleratorType', 'Accessibility', 'CreateTimeAfter', 'CreateTimeBefore',
  'CreateUserId', 'GpuType', 'ImageName', 'InstanceId', 'InstanceName', 'Labels', 'MaxCpu', 'MaxGpu',
  'MaxGpuMemory', 'MaxMemory', 'MinCpu', 'MinGpu', 'MinGpuMemory', 'MinMemory', 'Order', 'OversoldInfo',
  'OversoldType', 'PageNumber', 'PageSize', 'PaymentType', 'ResourceId', 'SortBy', 'Status', 'Tag',
  'WorkspaceId'];
const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~';
// Non-whitespace non-ASCII characters (JavaScript's trim() also strips Unicode spaces; ours
// strips ASCII whitespace, which is all an HTTP header can carry anyway).
const UNICODE = ['é', 'ñ', 'ü', 'Ω', 'Ж', '测', '试', '实', '例', 'ア', '한', '😀', '🚀', '𝄞', '✓', '€', '\u0301'];
const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

function randText(maxLen, opts) {
  const o = opts || {};
  const len = int(maxLen + 1);
  let s = '';
  for (let i = 0; i < len; i++) {
    const r = rnd();
    if (r < 0.45) s += pick(ASCII);
    else if (r < 0.6) s += pick(UNRESERVED);
    else if (r < 0.7) s += pick([' ', '*', '~', '+', '=', '&', '%', '/', ',', '"', '!', "'", '(', ')']);
    else if (r < 0.85) s += pick(UNICODE);
    else if (o.controls && r < 0.9) s += pick(['\t', '\n', '\r', '\x01', '\x7f']);
    else s += pick(UNRESERVED);
  }
  return s;
}
function randName(maxLen) {
  let s = '';
  const len = 1 + int(maxLen);
  for (let i = 0; i < len; i++) s += pick(UNRESERVED);
  return s;
}
function randValue() {
  const r = rnd();
  if (r < 0.1) return '';
  if (r < 0.2) return JSON.stringify(Object.fromEntries(Array.from({ length: int(5) }, () => [randText(6), randText(8)])));
  if (r < 0.28) return JSON.stringify(Array.from({ length: 1 + int(3) }, () => ({ Key: randText(6), Value: randText(6) })));
  if (r < 0.36) return Array.from({ length: 1 + int(4) }, () => 'dsw-' + randName(10)).join(',');
  if (r < 0.44) return String(int(100000));
  if (r < 0.5) return ' '.repeat(1 + int(3));
  return randText(40, { controls: true });
}
function randPath() {
  const r = rnd();
  if (r < 0.1) return '';
  if (r < 0.2) return '/';
  if (r < 0.35) return '/api/v2/instances';
  const segs = Array.from({ length: 1 + int(5) }, () => (chance(0.1) ? '' : randText(12)));
  return (chance(0.8) ? '/' : '') + segs.join('/') + (chance(0.2) ? '/' : '');
}
function edgeSpace() {
  return pick(['', '', ' ', '  ', '\t', ' \t ']);
}
function randHeaderValue() {
  // Inner bytes are anything printable; the edges carry only ASCII whitespace.
  let v = randText(30).replace(/^[\s\uFEFF\xA0]+|[\s\uFEFF\xA0]+$/g, '');
  return edgeSpace() + v + edgeSpace();
}
function mixCase(s) {
  return Array.from(s).map((ch) => (chance(0.3) ? ch.toUpperCase() : ch)).join('');
}
function randCase(i) {
  const c = {
    name: `random_${i}`,
    method: pick(['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', '']),
    path: randPath(),
    query: {},
    headers: [],
    access_key_id: chance(0.5) ? 'LTAI' + randName(20) : 'STS.' + randName(28),
    access_key_secret: chance(0.9) ? randText(30).trim() || 'k' : randText(12),
  };
  const nq = pick([0, 1, 2, 3, 5, 8, 13, 29, 40]);
  for (let k = 0; k < nq; k++) {
    c.query[chance(0.6) ? pick(API_PARAMS) : randName(12)] = randValue();
  }
  if (chance(0.5)) c.body = randText(60, { controls: true });
  else c.payload_hash = chance(0.9) ? EMPTY_SHA256 : crypto.createHash('sha256').update(randText(10)).digest('hex');
  // Header names are unique case-insensitively except in the deliberate block below: for a
  // name under several spellings the official signer sorts the values, ours keeps the order
  // given (sign.h), so only pre-sorted values are comparable.
  const seen = new Set();
  const add = (name, value) => {
    if (seen.has(name.toLowerCase())) return;
    seen.add(name.toLowerCase());
    c.headers.push([name, value]);
  };
  if (chance(0.9)) add(mixCase('host'), edgeSpace() + pick(['pai-dsw.cn-hangzhou.aliyuncs.com', '127.0.0.1:8080', 'h']) + edgeSpace());
  if (chance(0.9)) add(mixCase('x-acs-action'), 'ListInstances');
  if (chance(0.9)) add(mixCase('x-acs-version'), '2022-01-01');
  if (chance(0.9)) add(mixCase('x-acs-date'), '2024-0' + (1 + int(9)) + '-1' + int(10) + 'T0' + int(10) + ':00:00Z');
  if (chance(0.9)) add('x-acs-signature-nonce', crypto.createHash('md5').update(String(rnd())).digest('hex'));
  if (chance(0.8)) add('x-acs-content-sha256', EMPTY_SHA256);
  if (chance(0.3)) add('x-acs-security-token', randText(40).trim() || 't');
  if (chance(0.3)) add(mixCase('content-type'), pick(['application/json', 'application/x-www-form-urlencoded', ' text/plain; charset=utf-8 ']));
  if (chance(0.7)) add(mixCase('user-agent'), randHeaderValue());
  if (chance(0.5)) add('accept', 'application/json');
  if (chance(0.3)) add(mixCase('x-acsnot-signed'), randHeaderValue());
  const extra = int(6);
  for (let k = 0; k < extra; k++) add(mixCase('x-acs-' + randName(8).toLowerCase()), randHeaderValue());
  for (let k = int(4); k > 0; k--) add(mixCase(randName(10)), randHeaderValue());
  const dupBase = 'x-acs-' + randName(5).toLowerCase();
  if (chance(0.15) && !seen.has(dupBase)) {
    // One header under several spellings, values sorted by their trimmed value the way
    // JavaScript's sort() orders them.
    const base = dupBase;
    const n = 2 + int(3);
    const vals = Array.from({ length: n }, () => randHeaderValue())
      .sort((a, b) => (a.trim() < b.trim() ? -1 : a.trim() > b.trim() ? 1 : 0));
    const spellings = new Set();
    while (spellings.size < n) spellings.add(Array.from(base).map((ch) => (chance(0.5) ? ch.toUpperCase() : ch)).join(''));
    seen.add(base);
    [...spellings].forEach((s, k) => c.headers.push([s, vals[k]]));
  }
  return c;
}
const randomCases = Array.from({ length: NCASES }, (_, i) => randCase(i));

// ---- run
try {
  const fixedProblems = compare(fixed);
  for (const p of fixedProblems) fail(p.name, p.lines);
  const fixedFailures = new Set(fixedProblems.map((p) => p.name));
  for (const c of fixed) if (!fixedFailures.has(c.name)) pass(c.name);
  const problems = compare(randomCases);
  problems.slice(0, 10).forEach((p) => fail(p.name, p.lines));
  if (problems.length > 10) fail('random_more', [`${problems.length - 10} more random cases differ`]);
  if (!problems.length) pass('random', `${NCASES} cases, seed ${SEED}`);
  else fail('random', [`${problems.length} of ${NCASES} random cases differ (seed ${SEED})`]);
} catch (e) {
  fail('run', [e.stack || String(e)]);
}
process.exit(failed ? 1 : 0);
