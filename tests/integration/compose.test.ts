import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../config';

/**
 * The production topology in docker-compose.yml, checked by Debian's `docker-compose config` (no Docker engine
 * needed), and kept consistent with the code: the app's services get a configuration the code accepts in production.
 */

const ROOT = path.resolve(__dirname, '../..');
const secret = () => randomBytes(32).toString('hex');
const PRODUCTION_SECRETS = {
  API_TOKENS: 'ops-token=ops:olga',
  PAYMENT_WEBHOOK_SECRET: secret(),
  CARRIER_WEBHOOK_SECRET: secret(),
  SMTP_URL: 'smtps://user:password@relay.example.com:465',
  METRICS_TOKEN: secret(),
};

function composeConfig(env: NodeJS.ProcessEnv): string {
  return execFileSync('docker-compose', ['--file', 'docker-compose.yml', 'config'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface Service {
  environment?: Record<string, string | number>;
  ports?: unknown[];
  deploy?: { replicas?: number };
  command?: string[];
}

test('docker-compose config accepts the file; the app services start in production as configured', () => {
  const { services } = parse(composeConfig(PRODUCTION_SECRETS)) as { services: Record<string, Service> };
  expect(Object.keys(services).sort()).toEqual([
    'api',
    'app-db',
    'migrate',
    'temporal',
    'temporal-db',
    'temporal-ui',
    'worker',
  ]);
  for (const name of ['migrate', 'worker', 'api']) {
    const env = Object.fromEntries(
      Object.entries(services[name].environment ?? {}).map(([key, value]) => [key, String(value)]),
    );
    const config = loadConfig(env);
    expect([name, config.NODE_ENV, config.DATABASE_URL, config.TEMPORAL_ADDRESS]).toEqual([
      name,
      'production',
      expect.stringMatching(/^postgres:\/\/.*@app-db:5432\//),
      'temporal:7233',
    ]);
  }
  expect(services.worker.deploy?.replicas).toBeGreaterThanOrEqual(2);
  expect(services.worker.command).toEqual(['npm', 'run', 'start:worker']);
  expect(services.worker.environment?.WORKER_METRICS_ADDRESS).toBeTruthy();
  expect(services.api.command).toEqual(['npm', 'run', 'start:api']);
  // Temporal and the databases are reachable on the compose network only; the UI on the host's loopback.
  for (const name of ['temporal', 'temporal-db', 'app-db'])
    expect([name, services[name].ports]).toEqual([name, undefined]);
  expect(JSON.stringify(services['temporal-ui'].ports)).toContain('127.0.0.1');
});

test('refuses to render without the production secrets, naming what is missing', () => {
  let stderr = '';
  try {
    composeConfig({});
  } catch (error) {
    stderr = String((error as { stderr?: string }).stderr);
  }
  expect(stderr).toMatch(/API_TOKENS|PAYMENT_WEBHOOK_SECRET|METRICS_TOKEN/);
});
