// @ts-check
/**
 * The report page: reads the token and the period, fetches the /v1/reports JSON with the bearer token and draws it
 * with Chart.js (loaded before this module as the global `Chart`). What the server answers reaches the page only as
 * text (textContent) and chart data, never as HTML. Each canvas gets data-state="drawn" once its chart is drawn, or
 * "empty" when the period has nothing to show in it.
 */

/** @typedef {Record<string, any>} ReportJson */
/** @typedef {import('chart.js').ChartConfiguration} ChartConfig */

/** @type {typeof import('chart.js').Chart} */
const Chart = /** @type {any} */ (window).Chart;

const TOKEN_KEY = 'order-engine.reports.token';
const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const TOP_PRODUCTS = 10;
const COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16', '#6b7280'];

// Drawn at once, without animation: what the canvas shows is final when the chart is created.
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

/** @param {string} id */
function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

const form = /** @type {HTMLFormElement} */ (element('period'));
const tokenInput = /** @type {HTMLInputElement} */ (element('token'));
const fromInput = /** @type {HTMLInputElement} */ (element('from'));
const toInput = /** @type {HTMLInputElement} */ (element('to'));
const errorBox = element('error');
const loading = element('loading');
const report = element('report');

const count = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });

/** The reports give amounts in minor units without a currency: shown as major units with two decimals. */
const money = (/** @type {number} */ minor) => decimal.format(minor / 100);

/** @param {number | null | undefined} seconds */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const isoDay = (/** @type {number} */ time) => new Date(time).toISOString().slice(0, 10);
const dayTime = (/** @type {string} */ day) => Date.parse(`${day}T00:00:00Z`);
const validDay = (/** @type {string | null} */ text) =>
  text && /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(dayTime(text)) ? text : undefined;

/** Every UTC day from `from` to `to`, both included. */
function daysOf(/** @type {string} */ from, /** @type {string} */ to) {
  const days = [];
  for (let time = dayTime(from); time <= dayTime(to); time += DAY_MS) days.push(isoDay(time));
  return days;
}

/** Answers the report's JSON, or throws with the problem's detail. */
async function fetchReport(/** @type {string} */ path, /** @type {string} */ token) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  const body = await response.json().catch(() => undefined);
  if (!response.ok) {
    throw new Error(typeof body?.detail === 'string' ? body.detail : `${path} answered ${response.status}`);
  }
  return /** @type {ReportJson} */ (body);
}

function canvases() {
  return [...document.querySelectorAll('canvas')];
}

/** Draws the chart `config()` on canvas `id`, or, without data, marks it empty and shows its "no data" text. */
function draw(/** @type {string} */ id, /** @type {boolean} */ hasData, /** @type {() => ChartConfig} */ config) {
  const canvas = /** @type {HTMLCanvasElement} */ (element(id));
  Chart.getChart(canvas)?.destroy();
  const noData = /** @type {HTMLElement} */ (canvas.nextElementSibling);
  canvas.hidden = !hasData;
  noData.hidden = hasData;
  if (!hasData) {
    canvas.dataset.state = 'empty';
    return;
  }
  new Chart(canvas, config());
  canvas.dataset.state = 'drawn';
}

/** Fills the description list `id` with term and value pairs. */
function figures(/** @type {string} */ id, /** @type {[string, string][]} */ entries) {
  element(id).replaceChildren(
    ...entries.map(([term, value]) => {
      const group = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = term;
      dd.textContent = value;
      group.append(dt, dd);
      return group;
    }),
  );
}

/** A y (or x) axis of minor units, labelled in major units. */
const moneyAxis = { beginAtZero: true, ticks: { callback: (/** @type {string | number} */ v) => money(Number(v)) } };
const countAxis = { beginAtZero: true, ticks: { precision: 0 } };
const noLegend = { legend: { display: false } };

/** A bar chart of one dataset, one colour per bar. */
function bars(/** @type {string[]} */ labels, /** @type {string} */ label, /** @type {number[]} */ data) {
  return /** @type {ChartConfig} */ ({
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label, data, maxBarThickness: 64, backgroundColor: labels.map((_, i) => COLORS[i % COLORS.length]) },
      ],
    },
    options: { plugins: noLegend, scales: { y: countAxis } },
  });
}

function doughnut(/** @type {ReportJson} */ orders, /** @type {string} */ key) {
  const items = /** @type {ReportJson[]} */ (orders.items);
  return /** @type {ChartConfig} */ ({
    type: 'doughnut',
    data: {
      labels: items.map((i) => i[key]),
      datasets: [
        {
          label: 'Orders',
          data: items.map((i) => i.orders),
          backgroundColor: items.map((_, i) => COLORS[i % COLORS.length]),
        },
      ],
    },
    options: { plugins: { legend: { position: 'right' } } },
  });
}

function drawOrders(
  /** @type {Record<'status' | 'day' | 'channel' | 'region', ReportJson>} */ orders,
  /** @type {string[]} */ days,
) {
  const statuses = /** @type {ReportJson[]} */ (orders.status.items);
  draw('orders-by-status', statuses.length > 0, () =>
    bars(
      statuses.map((i) => i.status),
      'Orders',
      statuses.map((i) => i.orders),
    ),
  );
  const byDay = new Map(orders.day.items.map((/** @type {ReportJson} */ i) => [i.day, i]));
  // The count as a line over the value's bars, each on its own axis.
  draw('orders-by-day', byDay.size > 0, () => ({
    type: 'bar',
    data: {
      labels: days,
      datasets: [
        {
          type: 'line',
          label: 'Orders',
          data: days.map((d) => byDay.get(d)?.orders ?? 0),
          yAxisID: 'y',
          order: 0,
          borderColor: COLORS[0],
          backgroundColor: COLORS[0],
        },
        {
          label: 'Value',
          data: days.map((d) => byDay.get(d)?.value ?? 0),
          yAxisID: 'value',
          order: 1,
          maxBarThickness: 48,
          backgroundColor: '#fcd34d',
        },
      ],
    },
    options: {
      scales: {
        y: { ...countAxis, title: { display: true, text: 'orders' } },
        value: {
          ...moneyAxis,
          position: 'right',
          grid: { drawOnChartArea: false },
          title: { display: true, text: 'value' },
        },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) =>
              item.datasetIndex === 1 ? `Value: ${money(item.parsed.y ?? 0)}` : `Orders: ${item.parsed.y}`,
          },
        },
      },
    },
  }));
  draw('orders-by-channel', orders.channel.items.length > 0, () => doughnut(orders.channel, 'channel'));
  draw('orders-by-region', orders.region.items.length > 0, () => doughnut(orders.region, 'region'));
}

function drawSales(/** @type {ReportJson} */ sales) {
  figures('sales-figures', [
    ['Orders', count.format(sales.orders)],
    ['Revenue', money(sales.revenue)],
    ['Average order value', money(sales.averageOrderValue)],
  ]);
  const products = /** @type {ReportJson[]} */ (sales.topProducts);
  draw('sales-top-products', products.length > 0, () => ({
    type: 'bar',
    data: {
      labels: products.map((p) => p.name ?? p.sku),
      datasets: [
        { label: 'Revenue', data: products.map((p) => p.revenue), maxBarThickness: 40, backgroundColor: COLORS[2] },
      ],
    },
    options: {
      indexAxis: 'y',
      scales: { x: moneyAxis },
      plugins: {
        ...noLegend,
        tooltip: {
          callbacks: {
            label: (item) => `${money(item.parsed.x ?? 0)} (${count.format(products[item.dataIndex].units)} units)`,
          },
        },
      },
    },
  }));
}

function drawAfterSales(/** @type {ReportJson} */ period, /** @type {ReportJson} */ byAgent) {
  /** @type {ReportJson | undefined} */
  const all = period.items[0];
  const complaints = all?.complaints ?? 0;
  figures('after-sales-figures', [
    ['Complaints', count.format(complaints)],
    ['Mean first response', duration(all?.firstResponseSeconds)],
    ['Mean handling time', duration(all?.handlingSeconds)],
    [
      'Satisfaction',
      all?.ratingAverage === null || all?.ratingAverage === undefined
        ? '—'
        : `${decimal.format(all.ratingAverage)} / 5 (${count.format(all.rated)} rated)`,
    ],
    ['Resolution rate', complaints === 0 ? '—' : percent.format(all?.resolutionRate)],
    ['Cost (refunds + goodwill)', money(period.cost.refunded + period.cost.goodwill)],
    ['Transparency', percent.format(period.transparency)],
    ['Return rate', percent.format(period.returnRate)],
    ['Refund rate', percent.format(period.refundRate)],
    ['Complaint rate', percent.format(period.complaintRate)],
  ]);
  const ratings = [1, 2, 3, 4, 5].map((score) =>
    period.items.reduce((/** @type {number} */ sum, /** @type {ReportJson} */ i) => sum + i[`rating${score}`], 0),
  );
  draw(
    'after-sales-ratings',
    ratings.some((n) => n > 0),
    () => {
      const config = bars(['1', '2', '3', '4', '5'], 'Complaints rated', ratings);
      // From bad (red) to good (green).
      config.data.datasets[0].backgroundColor = ['#dc2626', '#f97316', '#facc15', '#84cc16', '#16a34a'];
      config.options = { ...config.options, scales: { y: countAxis, x: { title: { display: true, text: 'rating' } } } };
      return config;
    },
  );
  const agents = /** @type {ReportJson[]} */ (byAgent.items);
  const durationAxis = {
    beginAtZero: true,
    // Whole seconds: finer ticks would read the same once formatted.
    ticks: { precision: 0, callback: (/** @type {string | number} */ v) => duration(Number(v)) },
  };
  draw('after-sales-agents', agents.length > 0, () => ({
    type: 'bar',
    data: {
      labels: agents.map((a) => a.agent),
      datasets: [
        { label: 'First response', data: agents.map((a) => a.firstResponseSeconds), backgroundColor: COLORS[0] },
        { label: 'Handling', data: agents.map((a) => a.handlingSeconds), backgroundColor: COLORS[1] },
      ],
    },
    options: {
      scales: { y: durationAxis },
      plugins: {
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${duration(item.parsed.y)}` } },
      },
    },
  }));
}

function drawSettlement(/** @type {ReportJson} */ settlement) {
  const mismatches = /** @type {ReportJson[]} */ (settlement.mismatches);
  figures('settlement-figures', [
    ['Orders settled', count.format(settlement.settled)],
    ['Captured', money(settlement.captured)],
    ['Refunded', money(settlement.refunded)],
    ['Settled', money(settlement.net)],
    ['Mismatches', count.format(mismatches.length)],
  ]);
  draw('settlement', settlement.settled > 0, () => {
    const config = bars(['Captured', 'Refunded', 'Settled'], 'Amount', [
      settlement.captured,
      settlement.refunded,
      settlement.net,
    ]);
    config.options = { ...config.options, scales: { y: moneyAxis } };
    return config;
  });
  const rows = mismatches.map((m) => {
    const row = document.createElement('tr');
    for (const [value, isMoney] of /** @type {[string | number, boolean][]} */ ([
      [m.orderId, false],
      [m.captured, true],
      [m.refunded, true],
      [m.settled, true],
      [m.paymentsCaptured, true],
      [m.paymentsRefunded, true],
      [m.mismatch, false],
    ])) {
      const cell = document.createElement('td');
      cell.textContent = isMoney ? money(Number(value)) : String(value);
      if (isMoney) cell.className = 'money';
      row.append(cell);
    }
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const cell = document.createElement('td');
    cell.colSpan = 7;
    cell.textContent = 'No mismatches';
    row.append(cell);
    rows.push(row);
  }
  /** @type {HTMLTableSectionElement} */ (element('settlement-mismatches').querySelector('tbody')).replaceChildren(
    ...rows,
  );
}

/** Shows `message` in place of the report: no chart stays drawn from a previous answer. */
function fail(/** @type {string} */ message) {
  for (const canvas of canvases()) {
    Chart.getChart(canvas)?.destroy();
    delete canvas.dataset.state;
  }
  report.hidden = true;
  loading.hidden = true;
  errorBox.textContent = message;
  errorBox.hidden = false;
}

// Each Show starts a new generation; answers to an earlier one are dropped.
let generation = 0;

async function show() {
  const current = (generation += 1);
  const token = tokenInput.value.trim();
  if (!token) return fail('Enter a token.');
  sessionStorage.setItem(TOKEN_KEY, token);
  const [from, to] = [validDay(fromInput.value), validDay(toInput.value)];
  if (!from || !to) return fail('Enter the first and the last day of the period.');
  if (from > to) return fail('The period must end after it starts.');
  // The days are UTC and both included: the reports take a half-open period.
  const query = new URLSearchParams({
    from: new Date(dayTime(from)).toISOString(),
    to: new Date(dayTime(to) + DAY_MS).toISOString(),
  }).toString();
  loading.hidden = false;
  errorBox.hidden = true;
  // The orders by status come first: when every report is refused, theirs is the refusal shown.
  const paths = {
    status: `/v1/reports/orders?groupBy=status&${query}`,
    day: `/v1/reports/orders?groupBy=day&${query}`,
    channel: `/v1/reports/orders?groupBy=channel&${query}`,
    region: `/v1/reports/orders?groupBy=region&${query}`,
    sales: `/v1/reports/sales?top=${TOP_PRODUCTS}&${query}`,
    afterSales: `/v1/reports/after-sales?by=period&${query}`,
    agents: `/v1/reports/after-sales?by=agent&${query}`,
    settlement: `/v1/reports/settlement?${query}`,
  };
  const names = /** @type {(keyof typeof paths)[]} */ (Object.keys(paths));
  const answers = await Promise.allSettled(names.map((name) => fetchReport(paths[name], token)));
  if (current !== generation) return;
  const refused = answers.find((answer) => answer.status === 'rejected');
  if (refused) return fail(refused.reason instanceof Error ? refused.reason.message : String(refused.reason));
  const reports = /** @type {Record<keyof typeof paths, ReportJson>} */ (
    Object.fromEntries(
      names.map((name, i) => [name, /** @type {PromiseFulfilledResult<ReportJson>} */ (answers[i]).value]),
    )
  );
  loading.hidden = true;
  report.hidden = false;
  try {
    drawOrders(reports, daysOf(from, to));
    drawSales(reports.sales);
    drawAfterSales(reports.afterSales, reports.agents);
    drawSettlement(reports.settlement);
  } catch (error) {
    fail(`The report could not be drawn: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function start() {
  // A link may carry the token and the period in its fragment (never sent to a server); it leaves the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (location.hash) history.replaceState(null, '', `${location.pathname}${location.search}`);
  const today = Date.now();
  fromInput.value = validDay(fragment.get('from')) ?? isoDay(today - (DEFAULT_DAYS - 1) * DAY_MS);
  toInput.value = validDay(fragment.get('to')) ?? isoDay(today);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void show();
  });
  const token = fragment.get('token') ?? sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    tokenInput.value = token;
    void show();
  }
}

start();
