import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

/**
 * The report page (GET /reports): the /v1/reports figures as charts, drawn in the browser with Chart.js served from
 * node_modules. The page and its scripts hold no data, so they are public; the page's script fetches the reports with
 * the bearer token the user gives it, and the reports' own roles decide what it may see.
 */

const PUBLIC_DIR = path.join(__dirname, '..', 'public');
// Chart.js does not export its dist folder: its CommonJS entry (dist/chart.cjs) locates it.
const CHART_JS = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js');

/** Nothing inline and nothing from elsewhere: the page runs only the scripts and the style sheet served here. */
const REPORT_PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'";

const JAVASCRIPT = 'text/javascript; charset=utf-8';

const ASSETS: { url: string; file: string; type: string }[] = [
  { url: '/reports/chart.umd.js', file: CHART_JS, type: JAVASCRIPT },
  { url: '/reports/reports.js', file: path.join(PUBLIC_DIR, 'reports.js'), type: JAVASCRIPT },
  { url: '/reports/reports.css', file: path.join(PUBLIC_DIR, 'reports.css'), type: 'text/css; charset=utf-8' },
];

export function reportPageRoutes(): FastifyPluginAsync {
  return async (app) => {
    const html = await readFile(path.join(PUBLIC_DIR, 'reports.html'));
    app.get('/reports', { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', REPORT_PAGE_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-store')
        .send(html),
    );
    for (const asset of ASSETS) {
      const body = await readFile(asset.file);
      app.get(asset.url, { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
        reply
          .type(asset.type)
          .header('x-content-type-options', 'nosniff')
          .header('cache-control', 'no-cache')
          .send(body),
      );
    }
  };
}
