import { readFile } from 'node:fs/promises';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError, type Config } from '../config';

type TemporalSettings = Pick<
  Config,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_TLS_CERT_PATH'
  | 'TEMPORAL_TLS_KEY_PATH'
  | 'TEMPORAL_TLS_CA_PATH'
  | 'TEMPORAL_TLS_SERVER_NAME'
  | 'TEMPORAL_API_KEY'
>;

/** Fits both the client's `Connection.connect` and the worker's `NativeConnection.connect`. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | true;
  apiKey?: string;
}

async function read(variable: keyof TemporalSettings, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new ConfigError(`${variable}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * How the API, the worker and `npm start` reach an external Temporal cluster. The cluster runs workflows for anyone
 * who can open a connection to it, so production should set a client certificate (mTLS) or an API key; a private CA
 * and a server name let the client verify a self-hosted cluster's certificate.
 */
export async function temporalConnectionOptions(settings: TemporalSettings): Promise<TemporalConnectionOptions> {
  const { TEMPORAL_ADDRESS: address, TEMPORAL_TLS_CERT_PATH: certPath, TEMPORAL_TLS_KEY_PATH: keyPath } = settings;
  if (!address) throw new ConfigError('TEMPORAL_ADDRESS: required to connect to a Temporal cluster');
  if (Boolean(certPath) !== Boolean(keyPath)) {
    const missing = certPath ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH';
    throw new ConfigError(`${missing}: required with ${certPath ? 'TEMPORAL_TLS_CERT_PATH' : 'TEMPORAL_TLS_KEY_PATH'}`);
  }
  const tls: TLSConfig = {};
  if (certPath && keyPath) {
    const [crt, key] = await Promise.all([
      read('TEMPORAL_TLS_CERT_PATH', certPath),
      read('TEMPORAL_TLS_KEY_PATH', keyPath),
    ]);
    tls.clientCertPair = { crt, key };
  }
  if (settings.TEMPORAL_TLS_CA_PATH) {
    tls.serverRootCACertificate = await read('TEMPORAL_TLS_CA_PATH', settings.TEMPORAL_TLS_CA_PATH);
  }
  if (settings.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = settings.TEMPORAL_TLS_SERVER_NAME;

  const options: TemporalConnectionOptions = { address };
  if (Object.keys(tls).length) options.tls = tls;
  if (settings.TEMPORAL_API_KEY) {
    options.apiKey = settings.TEMPORAL_API_KEY;
    // API keys are bearer credentials: never send them in clear text.
    options.tls ??= true;
  }
  return options;
}
