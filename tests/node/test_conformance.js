'use strict';
// test_conformance: holds scripts/dsw_mock_server.py against Alibaba Cloud's own request engine
// (@alicloud/openapi-core): requests the engine signs (ACS3-HMAC-SHA256) must be accepted, their
// queries (unicode, spaces, '*', '~', a Labels JSON string, a Status list) must filter exactly as a
// brute-force filter of the fleet does, and wrong credentials must be rejected with the real codes.
//
// The package's blocked postinstall ("select-version" = node scripts/ts_version.js) only runs
// `npm install --no-save typescript @types/node` on Node 10 and 12, to build from src/; the
// compiled engine ships in dist/ (package "main": dist/client.js), so requiring the package is all
// it takes. A missing package is a FAIL, never a skip.

const path = require('path');
const fs = require('fs');
const { reporter, assert, eq, cleanEnv, startServer: start, control } = require('./mock');

const AK_ID = 'LTAI5tConformanceKeyId';
const AK_SECRET = 'Conformance+Secret/=~*';
const STS_ID = 'STS.NUconformance';
const STS_SECRET = 'StsSecretValue';
const STS_TOKEN = 'CAISconformanceToken/+=';

const report = reporter('conformance');
const pass = report.pass;
const fail = report.fail;

let Client;
let OpenApiUtil;
let dara;
try {
  const pkgDir = path.dirname(require.resolve('@alicloud/openapi-core/package.json'));
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  if (!fs.existsSync(path.join(pkgDir, pkg.main))) throw new Error(`${pkg.main} missing in ${pkgDir}`);
  const core = require('@alicloud/openapi-core');
  Client = core.default;
  OpenApiUtil = core.$OpenApiUtil;
  dara = require('@darabonba/typescript');
  require('@alicloud/openapi-util');
  assert(typeof Client === 'function' && OpenApiUtil && OpenApiUtil.Config, 'engine exports');
  pass('engine_loads');
} catch (e) {
  fail('engine_loads', `Alibaba Cloud's request engine is not usable (run: cd tests/node && npm ci): ${e.stack || e}`);
  process.exit(1);
}

cleanEnv();

function startServer() {
  return start(['--instances', '120', '--seed', '7', '--access-key-id', AK_ID, '--access-key-secret', AK_SECRET,
    '--sts', `${STS_ID}:${STS_SECRET}:${STS_TOKEN}`]);
}

function makeClient(srv, id, secret, token) {
  return new Client(new OpenApiUtil.Config({
    accessKeyId: id, accessKeySecret: secret, securityToken: token,
    endpoint: `${srv.host}:${srv.port}`, protocol: 'http',
    signatureAlgorithm: 'ACS3-HMAC-SHA256', // selects doRequest (V3 signature) in callApi
    readTimeout: 10000, connectTimeout: 5000,
  }));
}

const PARAMS = { action: 'ListInstances', version: '2022-01-01', protocol: 'HTTP', pathname: '/api/v2/instances',
  method: 'GET', authType: 'AK', style: 'ROA', reqBodyType: 'json', bodyType: 'json' };

async function listInstances(client, query) {
  const params = new OpenApiUtil.Params(PARAMS);
  const request = new OpenApiUtil.OpenApiRequest({ query });
  const res = await client.callApi(params, request, new dara.RuntimeOptions({}));
  return res;
}

async function expectError(client, query, code, status) {
  try {
    await listInstances(client, query);
  } catch (e) {
    eq(e.code, code, 'error code');
    eq(e.statusCode, status, 'HTTP status');
    return e;
  }
  throw new Error(`expected ${code}, the request succeeded`);
}

// An independent brute-force filter over /_mock/fleet for the parameters these tests use.
function bruteForce(fleet, q) {
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const num = (s) => Number(s);
  return fleet.filter((i) => {
    const rr = i.RequestedResource && typeof i.RequestedResource === 'object' ? i.RequestedResource : null;
    if (q.WorkspaceId === undefined ? i.WorkspaceId !== '40823' : q.WorkspaceId !== 'ALL' && i.WorkspaceId !== q.WorkspaceId) return false;
    if (q.ResourceId === undefined ? i.PaymentType !== 'PayAsYouGo' : q.ResourceId !== 'ALL' && i.ResourceId !== q.ResourceId) return false;
    if (q.Status !== undefined && !list(q.Status).includes(i.Status)) return false;
    if (q.InstanceName !== undefined && i.InstanceName !== q.InstanceName) return false;
    if (q.GpuType !== undefined && !(rr && rr.GPUType === q.GpuType)) return false;
    if (q.Labels !== undefined) {
      const want = JSON.parse(q.Labels);
      const have = Array.isArray(i.Labels) ? i.Labels : [];
      for (const [k, v] of Object.entries(want)) {
        if (!have.some((l) => l && l.Key === k && l.Value === v)) return false;
      }
    }
    if (q.Tag !== undefined) {
      const have = Array.isArray(i.Tags) ? i.Tags : [];
      for (const t of JSON.parse(q.Tag)) {
        if (!have.some((x) => x && x.TagKey === t.Key && x.TagValue === t.Value)) return false;
      }
    }
    if (q.MinCpu !== undefined && !(rr && typeof rr.CPU === 'string' && num(rr.CPU) * 1000 >= num(q.MinCpu))) return false;
    if (q.CreateTimeAfter !== undefined && !(typeof i.GmtCreateTime === 'string'
      && Date.parse(i.GmtCreateTime) >= Date.parse(q.CreateTimeAfter))) return false;
    return true;
  }).sort((a, b) => (Date.parse(b.GmtCreateTime) - Date.parse(a.GmtCreateTime))
    || (a.InstanceId < b.InstanceId ? -1 : a.InstanceId > b.InstanceId ? 1 : 0)).map((i) => i.InstanceId);
}

const SPECIAL_NAME = "Ω 实验 *~ (v2)+!' & = ? # / % 😀";
const SPECIAL_LABEL = { '团队': '算法 组*~', env: 'a b' };

async function main() {
  let srv;
  try {
    srv = await startServer();
  } catch (e) {
    fail('server_start', e);
    process.exit(1);
  }
  pass('server_start');
  const good = makeClient(srv, AK_ID, AK_SECRET);
  const tests = [];
  const t = (name, fn) => tests.push([name, fn]);

  t('setup_special_instances', async () => {
    for (const [k, st] of [[0, 'Running'], [1, 'Stopped'], [2, 'Failed']]) {
      const r = await control(srv, 'POST', 'instances', {
        InstanceId: `dsw-c0nf0rmance000${k}`, InstanceName: k === 0 ? SPECIAL_NAME : `conformance-${k}`,
        WorkspaceId: '40823', WorkspaceName: 'training_data', Status: st, PaymentType: 'PayAsYouGo',
        GmtCreateTime: `2024-05-0${k + 1}T12:00:00Z`, GmtModifiedTime: '2024-05-09T12:00:00Z',
        RequestedResource: { CPU: '4', Memory: '16Gi', GPU: '1', GPUType: 'NVIDIA A10' },
        Labels: Object.entries(SPECIAL_LABEL).map(([Key, Value]) => ({ Key, Value })),
        Tags: [{ TagKey: 'CostCenter', TagValue: 'R&D *~' }],
      });
      eq(r.status, 200, 'add instance');
    }
  });

  t('genuine_signature_accepted', async () => {
    const res = await listInstances(good, { WorkspaceId: 'ALL', ResourceId: 'ALL', PageSize: '5' });
    eq(res.statusCode, 200, 'status');
    eq(res.body.Success, true, 'Success');
    const fleet = (await control(srv, 'GET', 'fleet')).body;
    eq(res.body.TotalCount, fleet.TotalCount, 'TotalCount');
    eq(res.body.Instances.length, 5, 'page size');
    const stats = (await control(srv, 'GET', 'stats')).body;
    eq(stats.log[stats.log.length - 1].auth, 'ok', 'server saw a good signature');
  });

  t('unicode_name_query', async () => {
    const q = { InstanceName: SPECIAL_NAME, PageSize: '100' };
    const res = await listInstances(good, q);
    eq(res.body.Instances.map((i) => i.InstanceId), ['dsw-c0nf0rmance0000'], 'exact name match');
    const stats = (await control(srv, 'GET', 'stats')).body;
    eq(stats.log[stats.log.length - 1].query.InstanceName, SPECIAL_NAME, 'server decoded the name');
  });

  t('labels_json_and_status_list', async () => {
    const fleet = (await control(srv, 'GET', 'fleet')).body.Instances;
    for (const q of [
      { Labels: JSON.stringify(SPECIAL_LABEL), Status: 'Running,Stopped', WorkspaceId: 'ALL', ResourceId: 'ALL' },
      { Labels: JSON.stringify({ team: 'nlp' }), Status: 'Running, Stopped,Failed', WorkspaceId: 'ALL', ResourceId: 'ALL' },
      { Status: 'Running,Saved', WorkspaceId: '40823' },
      { Labels: JSON.stringify({ '团队': '算法' }), ResourceId: 'ALL' },
    ]) {
      const res = await listInstances(good, { ...q, PageSize: '1000' });
      const got = res.body.Instances.map((i) => i.InstanceId);
      eq(got, bruteForce(fleet, q), `filter ${JSON.stringify(q)}`);
      eq(res.body.TotalCount, got.length, 'TotalCount');
      const server = (await control(srv, 'POST', 'query', { params: q })).body;
      eq(server.Instances.map((i) => i.InstanceId), got, '/_mock/query agrees');
    }
    const special = await listInstances(good, { Labels: JSON.stringify(SPECIAL_LABEL), Status: 'Running,Stopped', PageSize: '100' });
    eq(special.body.Instances.map((i) => i.InstanceId).sort(), ['dsw-c0nf0rmance0000', 'dsw-c0nf0rmance0001'], 'special labels');
  });

  t('more_filters_with_awkward_characters', async () => {
    const fleet = (await control(srv, 'GET', 'fleet')).body.Instances;
    for (const q of [
      { GpuType: 'NVIDIA A10', MinCpu: '4000', WorkspaceId: 'ALL', ResourceId: 'ALL' },
      { Tag: JSON.stringify([{ Key: 'CostCenter', Value: 'R&D *~' }]), WorkspaceId: 'ALL' },
      { CreateTimeAfter: '2024-01-01T00:00:00Z', WorkspaceId: 'ALL', ResourceId: 'ALL', Status: 'Running' },
      { InstanceName: 'training_data', WorkspaceId: 'ALL', ResourceId: 'ALL' },
    ]) {
      const res = await listInstances(good, { ...q, PageSize: '1000' });
      eq(res.body.Instances.map((i) => i.InstanceId), bruteForce(fleet, q), `filter ${JSON.stringify(q)}`);
    }
  });

  t('paging_through_engine', async () => {
    const q = { WorkspaceId: 'ALL', ResourceId: 'ALL' };
    const all = (await control(srv, 'POST', 'query', { params: q })).body;
    const seen = [];
    for (let page = 1; page < 100; page++) {
      const res = await listInstances(good, { ...q, PageSize: '7', PageNumber: String(page) });
      eq(res.body.TotalCount, all.TotalCount, 'TotalCount on every page');
      seen.push(...res.body.Instances.map((i) => i.InstanceId));
      if (res.body.Instances.length < 7) break;
    }
    eq(seen, all.Instances.map((i) => i.InstanceId), 'pages concatenate to the whole list');
  });

  t('sts_token_accepted', async () => {
    const sts = makeClient(srv, STS_ID, STS_SECRET, STS_TOKEN);
    const res = await listInstances(sts, { WorkspaceId: 'ALL', PageSize: '3' });
    eq(res.statusCode, 200, 'status');
  });

  t('sts_wrong_token_rejected', async () => {
    const sts = makeClient(srv, STS_ID, STS_SECRET, 'CAISsomeOtherToken');
    await expectError(sts, { PageSize: '3' }, 'InvalidSecurityToken.MismatchWithAccessKey', 400);
  });

  t('wrong_secret_rejected', async () => {
    const bad = makeClient(srv, AK_ID, `${AK_SECRET}x`);
    const e = await expectError(bad, { InstanceName: SPECIAL_NAME }, 'SignatureDoesNotMatch', 400);
    assert(/server string to sign is:ACS3-HMAC-SHA256\n[0-9a-f]{64}/.test(e.message), `message: ${e.message}`);
  });

  t('unknown_key_rejected', async () => {
    const bad = makeClient(srv, 'LTAI5tNoSuchKey', AK_SECRET);
    await expectError(bad, {}, 'InvalidAccessKeyId.NotFound', 404);
  });

  t('validation_error_through_engine', async () => {
    const e = await expectError(good, { Status: 'Running,Bogus' }, 'ValidationError', 400);
    assert(e.data && e.data.HostId && e.data.Recommend && e.data.RequestId, `error body: ${JSON.stringify(e.data)}`);
    await expectError(good, { Labels: '{not json' }, 'InvalidParameter', 400);
  });

  t('throttling_error_through_engine', async () => {
    await control(srv, 'POST', 'faults', { faults: [{ kind: 'throttle', count: 1 }] });
    try {
      await listInstances(good, {});
      throw new Error('expected Throttling.User');
    } catch (e) {
      eq(e.code, 'Throttling.User', 'code');
      eq(e.name, 'ThrottlingError', 'the engine classified it as throttling');
    }
    const res = await listInstances(good, {});
    eq(res.statusCode, 200, 'fault used up after one request');
  });

  for (const [name, fn] of tests) {
    try {
      await fn();
      pass(name);
    } catch (e) {
      fail(name, e);
    }
  }
  srv.proc.removeAllListeners('exit');
  srv.proc.kill('SIGTERM');
  console.log(`conformance: ${tests.length + 2 - report.failures()} passed, ${report.failures()} failed`);
  process.exit(report.failures() ? 1 : 0);
}

main().catch((e) => { fail('main', e); process.exit(1); });
