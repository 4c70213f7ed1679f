import { ApplicationFailure } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sumQuantities } from '../domain/order';
import type { Carrier } from '../domain/ports';
import { RETURN_TERMINAL_STATUSES, type ReturnClaim } from '../domain/return';
import { returnableOrder, returnRefusal } from '../db/return-eligibility';
import { CASE_ERRORS } from '../workflows/case/messages';
import { attentionValues, decisionValues, recordTransition } from './case-records';
import { CAPTURED_OF_ORDER, REFUNDED_OF_ORDER } from './order-money';
import { providerCall } from './provider';
import { lockLevels } from './stock';
import type { OrderActivities, ReturnActivities } from './types';

/** The part of a return's row the claim activities own. */
interface ClaimRow {
  order_id: string;
  claimed: boolean;
  /** When the customer asked: the window is judged then, however long an outage delayed the claim. */
  created_at: string | Date;
}

async function claimOf(em: EntityManager, returnId: string, lock = false): Promise<ClaimRow | undefined> {
  const [row]: ClaimRow[] = await em.execute(
    `select order_id, claimed, created_at from returns where id = ? ${lock ? 'for update' : ''}`,
    [returnId],
  );
  return row;
}

/**
 * The warehouse the goods go back to: the one whose parcel carried the first returned SKU, else the order's first
 * parcel. Cancelled parcels carried nothing.
 */
async function returnWarehouse(em: EntityManager, orderId: string, firstSku: string): Promise<string> {
  const [shipment]: { warehouse_code: string }[] = await em.execute(
    `select warehouse_code from shipments where order_id = ? and case_type = 'order'
     order by (status <> 'CANCELLED' and lines @> ?::jsonb) desc, (status <> 'CANCELLED') desc, created_at, id
     limit 1`,
    [orderId, JSON.stringify([{ sku: firstSku }])],
  );
  if (!shipment) {
    throw ApplicationFailure.nonRetryable(
      `order ${orderId} has no shipment to return goods to`,
      CASE_ERRORS.ruleViolation,
    );
  }
  return shipment.warehouse_code;
}

/**
 * The return case's activities. `claimed` of a return and its `return_lines` are written only by the claim
 * activities, never by its snapshot, so a snapshot written late cannot give claimed units back.
 */
export function returnActivities(
  fork: () => EntityManager,
  carrier: Carrier,
): Pick<
  ReturnActivities,
  'recordReturn' | 'claimReturn' | 'releaseReturn' | 'bookReturnParcel' | 'restockReturn' | 'resettleOrder'
> &
  Pick<OrderActivities, 'openReturns'> {
  return {
    async recordReturn({ version, view, transition, audit }) {
      await fork().transactional(async (em) => {
        await em.execute(
          `insert into returns (id, order_id, customer_id, currency, status, reason, type, method, failed_goods, lines,
             evidence, requested_by, requested_role, approver, decided_by, decided_role, decision, decision_id,
             decision_reason, decided_at, reject_reason, outcome, waiting_on, received_at, received_by, inspection,
             refund_id, refund_amount, needs_attention, attention_reason, escalation_level, sla_deadline,
             snapshot_version, created_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?,
             ?, ?, ?, ?, ?, ?)
           on conflict (id) do update set order_id = excluded.order_id, customer_id = excluded.customer_id,
             currency = excluded.currency, status = excluded.status, reason = excluded.reason, type = excluded.type,
             method = excluded.method, failed_goods = excluded.failed_goods, lines = excluded.lines,
             evidence = excluded.evidence, requested_by = excluded.requested_by,
             requested_role = excluded.requested_role, approver = excluded.approver,
             decided_by = excluded.decided_by, decided_role = excluded.decided_role, decision = excluded.decision,
             decision_id = excluded.decision_id, decision_reason = excluded.decision_reason,
             decided_at = excluded.decided_at, reject_reason = excluded.reject_reason, outcome = excluded.outcome,
             waiting_on = excluded.waiting_on, received_at = excluded.received_at, received_by = excluded.received_by,
             inspection = excluded.inspection, refund_id = excluded.refund_id,
             refund_amount = excluded.refund_amount, needs_attention = excluded.needs_attention,
             attention_reason = excluded.attention_reason, escalation_level = excluded.escalation_level,
             sla_deadline = excluded.sla_deadline, snapshot_version = excluded.snapshot_version,
             created_at = excluded.created_at, updated_at = now()
           where returns.snapshot_version < excluded.snapshot_version`,
          [
            view.returnId,
            view.orderId,
            view.customerId,
            view.currency,
            view.status,
            view.reason,
            view.type,
            view.method,
            view.failedGoods,
            JSON.stringify(view.lines),
            view.evidence ? JSON.stringify(view.evidence) : null,
            view.requestedBy.principal,
            view.requestedBy.role,
            view.approver,
            ...decisionValues(view.decision),
            view.rejectReason ?? null,
            view.outcome ?? null,
            view.waitingOn,
            view.receivedAt ?? null,
            view.receivedBy ?? null,
            view.inspection ? JSON.stringify(view.inspection) : null,
            view.refund?.refundId ?? null,
            view.refund?.amount ?? null,
            ...attentionValues(view),
            version,
            view.requestedAt,
          ],
        );
        await recordTransition(em, {
          caseType: 'return',
          caseId: view.returnId,
          customerId: view.customerId,
          transition,
          audit,
          payload: {
            returnId: view.returnId,
            orderId: view.orderId,
            type: view.type,
            outcome: view.outcome,
            rejectReason: view.rejectReason,
          },
        });
      });
    },

    async claimReturn(req) {
      const { returnId, orderId, lines } = req;
      if (lines.length === 0) {
        throw ApplicationFailure.nonRetryable(`return ${returnId} names no lines`, CASE_ERRORS.ruleViolation);
      }
      return fork().transactional(async (em): Promise<ReturnClaim> => {
        // The workflow writes the return's REQUESTED snapshot before it claims, so a missing row is that write not
        // landed yet: a retry waits for it.
        if (!(await claimOf(em, returnId))) throw new Error(`return ${returnId} is not recorded yet`);
        // Every claim on the order's lines waits here: of two returns racing for the last unit, the second counts the
        // first's lines once it commits.
        await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`return-claim:${orderId}`]);
        const ret = (await claimOf(em, returnId, true))!;
        if (ret.order_id !== orderId) {
          throw ApplicationFailure.nonRetryable(
            `return ${returnId} belongs to order ${ret.order_id}, not ${orderId}`,
            CASE_ERRORS.ruleViolation,
          );
        }
        const facts = await returnableOrder(em, orderId);
        if (!facts) {
          throw ApplicationFailure.nonRetryable(
            `return ${returnId} names order ${orderId}, which is not recorded`,
            CASE_ERRORS.ruleViolation,
          );
        }
        // A claim already made stands: a retry answers what the first run did.
        if (!ret.claimed) {
          const refusal = await returnRefusal(
            em,
            facts,
            req,
            // The workflow passes the window that applies to the return's reason.
            { windowMs: req.windowMs, qualityWindowMs: req.windowMs },
            new Date(ret.created_at).getTime(),
          );
          if (refusal) throw ApplicationFailure.nonRetryable(refusal.reason, CASE_ERRORS.ruleViolation);
          await em.execute('delete from return_lines where return_id = ?', [returnId]);
          for (const [sku, quantity] of sumQuantities(lines)) {
            await em.execute('insert into return_lines (return_id, order_id, sku, quantity) values (?, ?, ?, ?)', [
              returnId,
              orderId,
              sku,
              quantity,
            ]);
          }
          await em.execute('update returns set claimed = true, updated_at = now() where id = ?', [returnId]);
        }
        return {
          unitPrices: Object.fromEntries(
            [...sumQuantities(lines).keys()].map((sku) => [sku, facts.lines.get(sku)?.unitPrice ?? 0]),
          ),
          warehouseCode: await returnWarehouse(em, orderId, lines[0].sku),
          address: facts.address,
          deliveredAt: facts.deliveredAt!,
        };
      });
    },

    async releaseReturn({ returnId }) {
      await fork().transactional(async (em) => {
        const ret = await claimOf(em, returnId, true);
        if (!ret?.claimed) return;
        await em.execute('update return_lines set released = true where return_id = ?', [returnId]);
        await em.execute('update returns set claimed = false, updated_at = now() where id = ?', [returnId]);
      });
    },

    async bookReturnParcel({ returnId, orderId, shipmentId, method, from, warehouseCode, lines }) {
      const booking = await providerCall(() =>
        carrier.bookReturn({
          idempotencyKey: `${shipmentId}:book-return`,
          shipmentId,
          orderId,
          method,
          from,
          toWarehouse: warehouseCode,
          lines,
        }),
      );
      await fork().execute(
        `insert into shipments (id, order_id, case_type, case_id, direction, purpose, warehouse_code, carrier, waybill,
           status, lines, address, label_url)
         values (?, ?, 'return', ?, 'return', 'return', ?, ?, ?, 'BOOKED', ?::jsonb, ?::jsonb, ?)
         on conflict (id) do update set carrier = excluded.carrier, waybill = excluded.waybill, updated_at = now()`,
        [
          shipmentId,
          orderId,
          returnId,
          warehouseCode,
          booking.carrier,
          booking.waybill,
          JSON.stringify(lines),
          JSON.stringify(from),
          booking.labelUrl ?? null,
        ],
      );
      return {
        carrier: booking.carrier,
        waybill: booking.waybill,
        ...(booking.labelUrl ? { labelUrl: booking.labelUrl } : {}),
      };
    },

    async restockReturn({ returnId, warehouseCode, lines, actor }) {
      await fork().transactional(async (em) => {
        // The return's id owns its stock movements as an order's id owns the order's, under the same lock.
        await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`stock:${returnId}`]);
        const done = await em.execute(`select 1 from stock_ledger where order_id = ? and kind = 'return' limit 1`, [
          returnId,
        ]);
        if (done.length > 0) return;
        const quantities = [...sumQuantities(lines)]
          .filter(([, quantity]) => quantity > 0)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        await lockLevels(
          em,
          quantities.map(([sku]) => sku),
        );
        for (const [sku, quantity] of quantities) {
          await em.execute(
            `insert into stock_levels (warehouse_code, sku, on_hand) values (?, ?, ?)
             on conflict (warehouse_code, sku) do update set on_hand = stock_levels.on_hand + excluded.on_hand,
               updated_at = now()`,
            [warehouseCode, sku, quantity],
          );
          await em.execute(
            `insert into stock_ledger (warehouse_code, sku, delta, reserved_delta, kind, reason, actor, order_id)
             values (?, ?, ?, 0, 'return', 'return', ?, ?)`,
            [warehouseCode, sku, quantity, actor, returnId],
          );
        }
      });
    },

    async resettleOrder({ orderId }) {
      await fork().execute(
        `update settlements set captured = money.captured, refunded = money.refunded,
           net = money.captured - money.refunded
         from (select ${CAPTURED_OF_ORDER} as captured, ${REFUNDED_OF_ORDER} as refunded) money
         where settlements.order_id = ?`,
        [orderId, orderId, orderId],
      );
    },

    async openReturns({ orderId }) {
      const [{ open }]: { open: number }[] = await fork().execute(
        'select count(*)::int as open from returns where order_id = ? and status not in (?)',
        [orderId, [...RETURN_TERMINAL_STATUSES]],
      );
      return open;
    },
  };
}
