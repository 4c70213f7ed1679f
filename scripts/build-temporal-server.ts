import { ConfigError, loadConfig } from '../config';
import { serverToolsDir, temporalServerTools } from '../infra/temporal-server';

/**
 * Builds the Temporal server and its SQL tool for `npm run start:cluster` ahead of its first start
 * (`npm run cluster:build`; CI runs it before the tests), into TEMPORAL_SERVER_DIR or DATA_DIR/tools.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const started = Date.now();
  const tools = await temporalServerTools(serverToolsDir(config), process.env, (message) => console.log(message));
  console.log(`Temporal server ready in ${((Date.now() - started) / 1000).toFixed(0)} s: ${tools.server}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
