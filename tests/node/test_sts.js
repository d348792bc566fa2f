'use strict';
// test_sts: holds the STS endpoint of scripts/dsw_mock_server.py against Alibaba Cloud's own STS
// client (@alicloud/sts20150401 on the official request engine): AssumeRole signed the way the
// engine signs by default (ACS3-HMAC-SHA256) and with the RPC signature V1 (HMAC-SHA1, what the
// official credentials providers send) must be accepted, the credentials it returns must work for
// ListInstances with their security token, AssumeRoleWithOIDC must work anonymously, and wrong
// keys, a denied role and an expired session must fail with the codes the SDK reports.

const { reporter, assert, eq, cleanEnv, startServer: start, control } = require('./mock');

const AK_ID = 'LTAI5tStsConformanceId';
const AK_SECRET = 'Sts+Conformance/Secret=';
const ROLE = 'acs:ram::1234567890123456:role/dsw-reader';
const OIDC_PROVIDER = 'acs:ram::1234567890123456:oidc-provider/ack-rrsa';

const report = reporter('sts');
const pass = report.pass;
const fail = report.fail;

let Sts;
let StsModels;
let Client;
let OpenApiUtil;
let dara;
try {
  const sts = require('@alicloud/sts20150401');
  Sts = sts.default;
  StsModels = sts;
  const core = require('@alicloud/openapi-core');
  Client = core.default;
  OpenApiUtil = core.$OpenApiUtil;
  dara = require('@darabonba/typescript');
  assert(typeof Sts === 'function' && StsModels.AssumeRoleRequest, 'STS client exports');
  pass('client_loads');
} catch (e) {
  fail('client_loads', `Alibaba Cloud's STS client is not usable (run: cd tests/node && npm ci): ${e.stack || e}`);
  process.exit(1);
}

cleanEnv();

function startServer() {
  return start(['--instances', '20', '--seed', '3', '--access-key-id', AK_ID, '--access-key-secret', AK_SECRET,
    '--oidc-token', 'eyJhbGciOiJSUzI1NiJ9.good.sig']);
}

function stsClient(srv, id, secret, signatureAlgorithm) {
  const cfg = { endpoint: `${srv.host}:${srv.port}`, protocol: 'http', readTimeout: 10000, connectTimeout: 5000 };
  if (id) Object.assign(cfg, { accessKeyId: id, accessKeySecret: secret });
  if (signatureAlgorithm) cfg.signatureAlgorithm = signatureAlgorithm;
  return new Sts(new OpenApiUtil.Config(cfg));
}

async function listInstances(srv, c) {
  const client = new Client(new OpenApiUtil.Config({
    accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken,
    endpoint: `${srv.host}:${srv.port}`, protocol: 'http', signatureAlgorithm: 'ACS3-HMAC-SHA256',
  }));
  const params = new OpenApiUtil.Params({ action: 'ListInstances', version: '2022-01-01', protocol: 'HTTP',
    pathname: '/api/v2/instances', method: 'GET', authType: 'AK', style: 'ROA', reqBodyType: 'json', bodyType: 'json' });
  return client.callApi(params, new OpenApiUtil.OpenApiRequest({ query: { PageSize: '5' } }), new dara.RuntimeOptions({}));
}

async function expectCode(promise, code, status) {
  try {
    await promise;
  } catch (e) {
    eq(e.code, code, 'error code');
    if (status) eq(e.statusCode, status, 'HTTP status');
    return e;
  }
  throw new Error(`expected ${code}, the call succeeded`);
}

async function main() {
  const srv = await startServer();
  try {
    const cases = [
      ['assume_role_engine_default_signature', undefined, 'ACS3-HMAC-SHA256'],
      ['assume_role_rpc_v1_signature', 'v2', 'HMAC-SHA1'],
    ];
    for (const [name, algo, want] of cases) {
      try {
        await control(srv, 'POST', 'sts', { reset_log: true });
        const res = await stsClient(srv, AK_ID, AK_SECRET, algo).assumeRole(new StsModels.AssumeRoleRequest({
          roleArn: ROLE, roleSessionName: 'conformance', durationSeconds: 900,
          policy: '{"Version":"1","Statement":[{"Effect":"Allow","Action":"pai:ListInstances","Resource":"*"}]}',
          externalId: 'ext-42',
        }));
        const c = res.body.credentials;
        assert(c && /^STS\./.test(c.accessKeyId) && c.accessKeySecret && c.securityToken, 'credentials');
        assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c.expiration), `Expiration ${c.expiration}`);
        const left = Date.parse(c.expiration) / 1000 - Date.now() / 1000;
        assert(left > 800 && left <= 901, `lasts DurationSeconds (${left})`);
        eq(res.body.assumedRoleUser.arn, 'acs:ram::1234567890123456:role/dsw-reader/conformance', 'AssumedRoleUser');
        const log = (await control(srv, 'GET', 'sts')).body.calls;
        eq([log.length, log[0].signature, log[0].signed_by, log[0].ExternalId, log[0].DurationSeconds],
          [1, want, AK_ID, 'ext-42', '900'], 'what the server saw');
        const list = await listInstances(srv, c);
        eq(list.statusCode, 200, 'ListInstances with the STS credentials');
        pass(name);
      } catch (e) { fail(name, e); }
    }

    try {
      const res = await stsClient(srv).assumeRoleWithOIDC(new StsModels.AssumeRoleWithOIDCRequest({
        OIDCProviderArn: OIDC_PROVIDER, roleArn: ROLE, OIDCToken: 'eyJhbGciOiJSUzI1NiJ9.good.sig',
        roleSessionName: 'oidc-conformance',
      }));
      const c = res.body.credentials;
      assert(c && c.securityToken, 'OIDC credentials');
      eq((await listInstances(srv, c)).statusCode, 200, 'ListInstances with the OIDC session');
      await expectCode(stsClient(srv).assumeRoleWithOIDC(new StsModels.AssumeRoleWithOIDCRequest({
        OIDCProviderArn: OIDC_PROVIDER, roleArn: ROLE, OIDCToken: 'forged', roleSessionName: 'x1',
      })), 'InvalidParameter.OIDCToken', 400);
      pass('assume_role_with_oidc_anonymous');
    } catch (e) { fail('assume_role_with_oidc_anonymous', e); }

    try {
      const req = () => new StsModels.AssumeRoleRequest({ roleArn: ROLE, roleSessionName: 'bad' });
      await expectCode(stsClient(srv, AK_ID, 'wrong-secret').assumeRole(req()), 'SignatureDoesNotMatch', 400);
      await expectCode(stsClient(srv, AK_ID, 'wrong-secret', 'v2').assumeRole(req()), 'SignatureDoesNotMatch', 400);
      await expectCode(stsClient(srv, 'LTAI5tUnknown', AK_SECRET).assumeRole(req()), 'InvalidAccessKeyId.NotFound', 404);
      await control(srv, 'POST', 'sts', { deny: { [ROLE]: { AuthPrincipalDisplayName: 'alice' } } });
      const e = await expectCode(stsClient(srv, AK_ID, AK_SECRET).assumeRole(req()), 'NoPermission', 403);
      eq([e.accessDeniedDetail && e.accessDeniedDetail.AuthAction,
        e.accessDeniedDetail && e.accessDeniedDetail.AuthPrincipalDisplayName], ['sts:AssumeRole', 'alice'],
      'AccessDeniedDetail as the engine reads it');
      await control(srv, 'POST', 'sts', { deny: {} });
      pass('rejections_as_the_engine_reports_them');
    } catch (e) { fail('rejections_as_the_engine_reports_them', e); }

    try {
      await control(srv, 'POST', 'sts', { expiry_s: 1 });
      const res = await stsClient(srv, AK_ID, AK_SECRET).assumeRole(new StsModels.AssumeRoleRequest({
        roleArn: ROLE, roleSessionName: 'short' }));
      const c = res.body.credentials;
      const until = Date.parse(c.expiration) + 50;
      // Poll with a deadline, no fixed sleep: the session must stop working once Expiration passes.
      const deadline = Date.now() + 10000;
      let last = null;
      while (Date.now() < deadline) {
        try {
          await listInstances(srv, c);
          last = null;
        } catch (e) { last = e; if (Date.now() >= until) break; }
        await new Promise((r) => setTimeout(r, 100));
      }
      assert(last, 'the expired session was still accepted');
      eq(last.code, 'InvalidSecurityToken.Expired', 'expired session code');
      await control(srv, 'POST', 'sts', { expiry_s: null });
      pass('expired_session_rejected');
    } catch (e) { fail('expired_session_rejected', e); }
  } finally {
    srv.proc.kill();
  }
}

main().then(() => process.exit(report.failures() ? 1 : 0), (e) => { fail('main', e); process.exit(1); });
