import { randomBytes } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import { type EmailAddress, type ParsedMail, simpleParser } from 'mailparser';
import type { Pool } from 'pg';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { ensureSchema } from './common';

/**
 * Recipient domains the mailbox answers at RCPT TO as a relay would, so senders can be tested against refusals:
 *
 *   anyone@refused.invalid   -> 550 (mailbox unavailable: a permanent refusal)
 *   anyone@deferred.invalid  -> 451 (try again later: a transient one)
 *
 * Every other recipient is accepted.
 */
export const REFUSED_RECIPIENT_DOMAIN = 'refused.invalid';
export const DEFERRED_RECIPIENT_DOMAIN = 'deferred.invalid';

/** Larger messages are answered 552 and not stored. */
export const MAILBOX_MAX_MESSAGE_BYTES = 1024 * 1024;

const HOST = '127.0.0.1';

const SCHEMA = [
  'CREATE SCHEMA IF NOT EXISTS sandbox',
  `CREATE TABLE IF NOT EXISTS sandbox.mailbox (
    message_id   text PRIMARY KEY,
    from_address text NOT NULL,
    to_addresses text[] NOT NULL,
    subject      text NOT NULL,
    text         text,
    html         text,
    headers      jsonb NOT NULL,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    received_at  timestamptz NOT NULL DEFAULT now()
  )`,
  'CREATE INDEX IF NOT EXISTS mailbox_to_idx ON sandbox.mailbox USING gin (to_addresses)',
];

export interface SandboxMailboxOptions {
  /** Where to listen on 127.0.0.1; 0 for a free port, read back from `port` once started. */
  port: number;
}

export interface MailboxMessage {
  /** The Message-ID header, angle brackets included: `<…@order-engine.local>`. */
  messageId: string;
  /** The From header, readable: `Order Engine <no-reply@order-engine.local>` (the envelope sender if it has none). */
  from: string;
  /** The envelope recipients (RCPT TO), lower-cased: Bcc included, whatever the To header says. */
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  /** Every header, parsed (address headers as objects, dates as ISO strings), by lower-case name. */
  headers: Record<string, unknown>;
  receivedAt: string;
}

export interface MailboxQuery {
  /** Only messages delivered to this address (case-insensitive). */
  to?: string;
  /** Newest first, at most this many; 50 unless told. */
  limit?: number;
}

interface MailboxRow {
  message_id: string;
  from_address: string;
  to_addresses: string[];
  subject: string;
  text: string | null;
  html: string | null;
  headers: Record<string, unknown>;
  received_at: Date;
}

/** An error a handler callback turns into that SMTP reply. */
function smtpReply(responseCode: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode });
}

/**
 * PostgreSQL refuses NUL in text and jsonb, and a lone surrogate in jsonb; mail from an arbitrary client may hold
 * either. Both become U+FFFD rather than make the message impossible to store.
 */
function storable(text: string): string {
  return text
    .replaceAll('\u0000', '\ufffd')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function storableHeaders(parsed: ParsedMail): string {
  return JSON.stringify(Object.fromEntries(parsed.headers), (_key, value: unknown) =>
    typeof value === 'string' ? storable(value) : value,
  );
}

/** `Name <address>, …` as people write it, without the quoting of a header. */
function readableAddresses(addresses: EmailAddress[]): string {
  return addresses
    .flatMap((entry) => (entry.group ? entry.group : [entry]))
    .map(({ name, address }) => (name && address ? `${name} <${address}>` : (address ?? name)))
    .join(', ');
}

/** `<id>` whether or not the caller wrote the angle brackets (they must be percent-encoded in a URL). */
export function normalizeMessageId(messageId: string): string {
  const bare = messageId.trim().replace(/^<|>$/g, '');
  return `<${bare}>`;
}

/**
 * A real SMTP server standing in for the mail relay: what the engine sends by email lands in `sandbox.mailbox`, to be
 * read back through GET /v1/sandbox/mailbox or list()/get(). It listens on 127.0.0.1 only, without TLS (no STARTTLS)
 * and without authentication (AUTH is not offered; clients must not try to log in), and takes messages of up to
 * MAILBOX_MAX_MESSAGE_BYTES.
 *
 * Idempotency is the provider's, by Message-ID: a message whose Message-ID is already stored is accepted (250) and not
 * stored again, so a sender that sets the Message-ID from its idempotency key delivers a resent message once. A
 * message without a Message-ID gets a random one. The messages live in PostgreSQL and survive restarts.
 */
export class SandboxMailbox {
  private server: SMTPServer | undefined;
  private boundPort: number | undefined;

  private constructor(
    private readonly pool: Pool,
    private readonly opts: SandboxMailboxOptions,
  ) {}

  /** Creates the table if needed; start() opens the port. The pool stays the caller's to end. */
  static async create(pool: Pool, opts: SandboxMailboxOptions): Promise<SandboxMailbox> {
    await ensureSchema(pool, SCHEMA);
    return new SandboxMailbox(pool, opts);
  }

  /** The port listened on: the bound one once started (and again after a restart), else the configured one. */
  get port(): number {
    return this.boundPort ?? this.opts.port;
  }

  /** The address an SMTP client (nodemailer, swaks) sends to. */
  get url(): string {
    return `smtp://${HOST}:${this.port}`;
  }

  /**
   * Starts listening. Started again after stop(), it takes the port it had, so senders pointed at it reach it again.
   * `port` overrides the configured port for a first start (e.g. 0 when the configured one is taken).
   */
  async start(port?: number): Promise<void> {
    if (this.server) return;
    const server = new SMTPServer({
      name: 'mailbox.sandbox.local',
      banner: 'order engine sandbox mailbox',
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      size: MAILBOX_MAX_MESSAGE_BYTES,
      logger: false,
      // stop() does not wait long for a client that keeps its connection open.
      closeTimeout: 1_000,
      onRcptTo: (address, _session, callback) => callback(this.recipientRefusal(address)),
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(
          () => callback(),
          (error: Error) => callback(error),
        );
      },
    });
    // Errors of client connections (a peer resetting, a timeout) end that connection only.
    server.on('error', () => undefined);
    const listening: Server = server.listen(this.boundPort ?? port ?? this.opts.port, HOST);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        listening.off('listening', onListening);
        reject(error);
      };
      const onListening = () => {
        listening.off('error', onError);
        resolve();
      };
      listening.once('error', onError);
      listening.once('listening', onListening);
    });
    this.boundPort = (listening.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and closes the connections; the messages stay. The pool stays the caller's to end. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Newest first. */
  async list(query: MailboxQuery = {}): Promise<MailboxMessage[]> {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50), 1), 500);
    const { rows } = await this.pool.query<MailboxRow>(
      `SELECT * FROM sandbox.mailbox
        WHERE ($1::text IS NULL OR to_addresses @> ARRAY[lower($1)])
        ORDER BY seq DESC LIMIT $2`,
      [query.to ?? null, limit],
    );
    return rows.map(toMessage);
  }

  /** By Message-ID, with or without its angle brackets. */
  async get(messageId: string): Promise<MailboxMessage | null> {
    const { rows } = await this.pool.query<MailboxRow>('SELECT * FROM sandbox.mailbox WHERE message_id = $1', [
      normalizeMessageId(messageId),
    ]);
    return rows[0] ? toMessage(rows[0]) : null;
  }

  private recipientRefusal({ address }: SMTPServerAddress): Error | undefined {
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (domain === REFUSED_RECIPIENT_DOMAIN) return smtpReply(550, `mailbox unavailable: ${address} is refused`);
    if (domain === DEFERRED_RECIPIENT_DOMAIN) return smtpReply(451, `${address} is deferred, try again later`);
    return undefined;
  }

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    // The whole stream is read in any case (the client waits for its end); past the limit nothing more is kept.
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes <= MAILBOX_MAX_MESSAGE_BYTES) chunks.push(chunk);
    }
    if (stream.sizeExceeded || bytes > MAILBOX_MAX_MESSAGE_BYTES) {
      throw smtpReply(552, `message exceeds the fixed maximum message size of ${MAILBOX_MAX_MESSAGE_BYTES} bytes`);
    }
    let parsed: ParsedMail;
    try {
      parsed = await simpleParser(Buffer.concat(chunks));
    } catch (error) {
      throw smtpReply(554, `message could not be parsed: ${(error as Error).message}`);
    }
    const messageId = normalizeMessageId(
      parsed.messageId ?? `${randomBytes(16).toString('hex')}@mailbox.sandbox.local`,
    );
    const recipients = session.envelope.rcptTo.map(({ address }) => storable(address.toLowerCase()));
    const from = parsed.from
      ? readableAddresses(parsed.from.value)
      : session.envelope.mailFrom
        ? session.envelope.mailFrom.address
        : '';
    try {
      await this.pool.query(
        `INSERT INTO sandbox.mailbox (message_id, from_address, to_addresses, subject, text, html, headers)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (message_id) DO NOTHING`,
        [
          storable(messageId),
          storable(from),
          recipients,
          storable(parsed.subject ?? ''),
          parsed.text === undefined ? null : storable(parsed.text),
          typeof parsed.html === 'string' ? storable(parsed.html) : null,
          storableHeaders(parsed),
        ],
      );
    } catch (error) {
      // Nothing was stored: a transient failure, which the client retries.
      throw smtpReply(451, `message not stored, try again later: ${(error as Error).message}`);
    }
  }
}

function toMessage(row: MailboxRow): MailboxMessage {
  return {
    messageId: row.message_id,
    from: row.from_address,
    to: row.to_addresses,
    subject: row.subject,
    ...(row.text === null ? {} : { text: row.text }),
    ...(row.html === null ? {} : { html: row.html }),
    headers: row.headers,
    receivedAt: row.received_at.toISOString(),
  };
}
