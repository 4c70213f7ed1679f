import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../config';
import { temporalConnectionOptions } from '../../infra/temporal-connection';

let dir: string;
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'temporal-tls-'));
  await Promise.all([
    fs.writeFile(file('client.pem'), 'client certificate'),
    fs.writeFile(file('client.key'), 'client key'),
    fs.writeFile(file('ca.pem'), 'server ca'),
  ]);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const options = (env: Record<string, string>) =>
  temporalConnectionOptions(loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: 'temporal:7233', ...env }));

describe('Temporal connection options', () => {
  it('connects in plain text when nothing asks for TLS', async () => {
    expect(await options({})).toEqual({ address: 'temporal:7233' });
  });

  it('presents the client certificate, trusts the CA and checks the server name for mTLS', async () => {
    const built = await options({
      TEMPORAL_TLS_CERT_PATH: file('client.pem'),
      TEMPORAL_TLS_KEY_PATH: file('client.key'),
      TEMPORAL_TLS_CA_PATH: file('ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(built.address).toBe('temporal:7233');
    expect(built.tls).toEqual({
      clientCertPair: { crt: Buffer.from('client certificate'), key: Buffer.from('client key') },
      serverRootCACertificate: Buffer.from('server ca'),
      serverNameOverride: 'temporal.internal',
    });
  });

  it('verifies the server against a private CA without a client certificate', async () => {
    const built = await options({ TEMPORAL_TLS_CA_PATH: file('ca.pem') });
    expect(built.tls).toEqual({ serverRootCACertificate: Buffer.from('server ca') });
  });

  it('always uses TLS with an API key, which is a bearer credential', async () => {
    expect(await options({ TEMPORAL_API_KEY: 'key' })).toEqual({ address: 'temporal:7233', apiKey: 'key', tls: true });
    const withCa = await options({ TEMPORAL_API_KEY: 'key', TEMPORAL_TLS_CA_PATH: file('ca.pem') });
    expect(withCa.tls).toEqual({ serverRootCACertificate: Buffer.from('server ca') });
  });

  it.each([
    ['TEMPORAL_TLS_CERT_PATH', { TEMPORAL_TLS_CERT_PATH: 'client.pem' }],
    ['TEMPORAL_TLS_KEY_PATH', { TEMPORAL_TLS_KEY_PATH: 'client.key' }],
  ])('refuses %s without its other half', async (name, env) => {
    await expect(options(env)).rejects.toThrow(ConfigError);
    await expect(options(env)).rejects.toThrow(name);
  });

  it('names the variable of a file it cannot read', async () => {
    const missing = { TEMPORAL_TLS_CA_PATH: file('nowhere.pem') };
    await expect(options(missing)).rejects.toThrow(ConfigError);
    await expect(options(missing)).rejects.toThrow(/TEMPORAL_TLS_CA_PATH: cannot read/);
  });

  it('needs an address', async () => {
    await expect(temporalConnectionOptions(loadConfig({ NODE_ENV: 'test' }))).rejects.toThrow(/TEMPORAL_ADDRESS/);
  });
});
