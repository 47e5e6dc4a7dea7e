/**
 * Login to a cluster with security enabled (Aerospike Enterprise), as the C client does it
 * (as_admin.c, as_node.c, as_password.c of the C client and aerospike-common):
 *
 * - Each node is logged in once, on the first connection to it: LOGIN with the user and
 *   the bcrypt hash of the password (`--auth INTERNAL`, the default), or the user, the
 *   hash and the clear password (`EXTERNAL`: the server checks it against LDAP, so it is
 *   refused without TLS), or no field at all (`PKI`: the server takes the user from the
 *   TLS client certificate). The reply carries a session token and its TTL in seconds;
 *   LOGIN also authenticates the connection it was sent on.
 * - Every later connection to the node sends AUTHENTICATE with the user and the token.
 * - The token is renewed before the server drops it: a connection opened after its
 *   refresh time (TTL − 60 s, as the C client; half the TTL when that is 2 minutes or
 *   less) logs in again instead. A token the server refuses on AUTHENTICATE (EXPIRED_SESSION
 *   after a server-side expiry, NOT_AUTHENTICATED, any other code) makes that connection
 *   log in again; only a refused LOGIN is an error (LoginError, exit code 3).
 * - A LOGIN answered SECURITY_NOT_ENABLED (the server has security off) is accepted, as
 *   the C client does: the node's connections then skip authentication.
 *
 * The hash is bcrypt with the fixed salt "$2a$10$7EqJtq98hPqEX7fNZaFWoO" (cost 10), the
 * salt every Aerospike client uses, computed once per cluster with bcryptjs. A password
 * that already is such a hash (60 characters starting "$2a$") is sent as given, as
 * as_password_get_constant_hash() does. Passwords are kept in private fields only: they
 * never reach a message, a log line, JSON or util.inspect.
 *
 * bcryptjs is loaded the first time a password is hashed (a synchronous require of its
 * CommonJS build), not when this module is: most runs log in to no cluster, and every
 * command that talks to one imports this module (CLI start-up, docs/performance.md).
 */
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { UsageError } from '../errors.js';
import type { Connection } from './connection.js';
import { LoginError } from './errors.js';
import { AdminCommand, AdminField, encodeAdminMessage, findAdminField, stringField, type AdminFieldValue } from './wire/admin.js';
import { ResultCode, resultCodeHint, resultCodeName } from './wire/result-codes.js';

export const AUTH_MODES = ['INTERNAL', 'EXTERNAL', 'PKI'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** The salt of every Aerospike client (aerospike-common as_password.c, BCRYPT_SALT). */
export const AEROSPIKE_BCRYPT_SALT = '$2a$10$7EqJtq98hPqEX7fNZaFWoO';

interface Bcrypt {
  hashSync(password: string, salt: string): string;
}
let bcrypt: Bcrypt | undefined;

/** bcryptjs, loaded on first use (its `require` export is the UMD build, same code). */
function loadBcrypt(): Bcrypt {
  bcrypt ??= createRequire(import.meta.url)('bcryptjs') as Bcrypt;
  return bcrypt;
}

/** The credential LOGIN sends: bcrypt of the password with Aerospike's fixed salt; a hash already is one. */
export function hashPassword(password: string): string {
  if (password.length === 60 && password.startsWith('$2a$')) return password;
  return loadBcrypt().hashSync(password, AEROSPIKE_BCRYPT_SALT);
}

/** Who logs in, and how. Build once per cluster: the hash costs ~0.1 s of CPU. */
export class Credentials {
  readonly #hash: string | undefined;
  readonly #clear: string | undefined;

  private constructor(
    readonly mode: AuthMode,
    /** undefined for PKI: the certificate names the user. */
    readonly user: string | undefined,
    hash: string | undefined,
    clear: string | undefined,
  ) {
    this.#hash = hash;
    this.#clear = clear;
  }

  /**
   * Checks the combination (UsageError when wrong) and hashes the password. INTERNAL and
   * EXTERNAL need a user and a password; EXTERNAL and PKI need TLS; PKI takes no password.
   */
  static create(opts: { mode?: AuthMode; user?: string; password?: string; tls: boolean }): Credentials {
    const mode = opts.mode ?? 'INTERNAL';
    if (!(AUTH_MODES as readonly string[]).includes(mode)) throw new UsageError(`--auth ${String(mode)}: must be one of ${AUTH_MODES.join(', ')}`);
    if (mode === 'PKI') {
      if (!opts.tls) throw new UsageError('--auth PKI authenticates with the TLS client certificate: it needs --tls-enable and --tls-certfile/--tls-keyfile');
      if (opts.password !== undefined) throw new UsageError('--auth PKI takes no password (the TLS client certificate names the user): drop --password, --password-file, --password-prompt and AEROSPIKE_PASSWORD');
      return new Credentials(mode, undefined, undefined, undefined);
    }
    if (opts.user === undefined || opts.user === '') throw new UsageError(`--auth ${mode} needs a user: give --user (or AEROSPIKE_USER)`);
    if (opts.password === undefined) {
      throw new UsageError(`user "${opts.user}" needs a password: give --password-file, --password-prompt, -P or AEROSPIKE_PASSWORD`);
    }
    if (mode === 'EXTERNAL' && !opts.tls) {
      throw new UsageError('--auth EXTERNAL sends the password itself to the server (for LDAP): it is refused without TLS; add --tls-enable');
    }
    if (Buffer.byteLength(opts.user, 'utf8') > 63) throw new UsageError(`user name "${opts.user}" is longer than the server's 63 bytes`);
    return new Credentials(mode, opts.user, hashPassword(opts.password), mode === 'EXTERNAL' ? opts.password : undefined);
  }

  /** "as user "backup"" or "with the TLS client certificate", for messages. */
  get who(): string {
    return this.mode === 'PKI' ? 'with the TLS client certificate (PKI)' : `as user "${this.user}"`;
  }

  loginRequest(): Buffer {
    const fields: AdminFieldValue[] = [];
    if (this.mode !== 'PKI') {
      fields.push(stringField(AdminField.USER, this.user!), stringField(AdminField.CREDENTIAL, this.#hash!));
      if (this.mode === 'EXTERNAL') fields.push(stringField(AdminField.CLEAR_PASSWORD, this.#clear!));
    }
    return encodeAdminMessage({ command: AdminCommand.LOGIN, fields });
  }

  authenticateRequest(token: Buffer): Buffer {
    const fields: AdminFieldValue[] = this.mode === 'PKI' ? [] : [stringField(AdminField.USER, this.user!)];
    fields.push({ id: AdminField.SESSION_TOKEN, data: token });
    return encodeAdminMessage({ command: AdminCommand.AUTHENTICATE, fields });
  }

  toJSON(): { mode: AuthMode; user?: string } {
    return this.user === undefined ? { mode: this.mode } : { mode: this.mode, user: this.user };
  }

  [inspect.custom](): string {
    return `Credentials { mode: '${this.mode}'${this.user !== undefined ? `, user: '${this.user}'` : ''} }`;
  }
}

export interface Session {
  token: Buffer;
  /** Local clock (ms) after which new connections log in again; undefined: never (no TTL given). */
  refreshAtMs: number | undefined;
}

/** When to renew a token of `ttlSeconds`: 60 s early (as the C client), or at half its life when it is short. */
export function refreshDelayMs(ttlSeconds: number): number {
  return ttlSeconds > 120 ? (ttlSeconds - 60) * 1000 : ttlSeconds * 500;
}

/**
 * Sends LOGIN on `conn` and returns the session, or 'disabled' when the server has
 * security off. A refusal is a LoginError naming the node, the user and the result code.
 */
export async function login(conn: Connection, creds: Credentials, timeoutMs: number, now: () => number = Date.now): Promise<Session | 'disabled'> {
  const reply = await conn.admin(creds.loginRequest(), timeoutMs);
  const rc = reply.resultCode;
  if (rc === ResultCode.SECURITY_NOT_ENABLED) return 'disabled';
  if (rc !== ResultCode.OK) throw loginError(conn, creds, rc);
  const token = findAdminField(reply, AdminField.SESSION_TOKEN);
  if (token === undefined || token.length === 0) throw loginError(conn, creds, ResultCode.OK, 'the reply holds no session token');
  const ttl = findAdminField(reply, AdminField.SESSION_TTL);
  const ttlSeconds = ttl !== undefined && ttl.length >= 4 ? ttl.readUInt32BE(0) : 0;
  return { token: Buffer.from(token), refreshAtMs: ttlSeconds > 0 ? now() + refreshDelayMs(ttlSeconds) : undefined };
}

/** Sends AUTHENTICATE with the session token on `conn`; returns the server's result code. */
export async function authenticate(conn: Connection, creds: Credentials, token: Buffer, timeoutMs: number): Promise<number> {
  return (await conn.admin(creds.authenticateRequest(token), timeoutMs)).resultCode;
}

/**
 * The session of one node, shared by its connections: `ready(conn)` authenticates a new
 * connection with the current token, logging in on it when there is none yet, when the
 * token is due for renewal, or when the server refuses it. Logins and refused tokens are
 * counted for tests and diagnostics.
 */
export class NodeSession {
  private session: Session | undefined;
  private disabled = false;
  private pending: Promise<void> | undefined;
  /** LOGINs sent, and AUTHENTICATEs the server refused (each followed by a LOGIN). */
  readonly stats = { logins: 0, refusedTokens: 0 };

  constructor(
    private readonly creds: Credentials,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async ready(conn: Connection): Promise<void> {
    // A login in flight on another connection: wait, then use its token.
    await this.pending?.catch(() => undefined);
    if (this.disabled) return;
    const s = this.session;
    if (s && (s.refreshAtMs === undefined || this.now() < s.refreshAtMs)) {
      const rc = await authenticate(conn, this.creds, s.token, this.timeoutMs);
      if (rc === ResultCode.OK) return;
      if (rc === ResultCode.SECURITY_NOT_ENABLED) {
        this.disabled = true;
        return;
      }
      this.stats.refusedTokens++;
      if (this.session === s) this.session = undefined;
    }
    await this.login(conn);
  }

  /** Forgets the token: the next connection logs in. */
  invalidate(): void {
    this.session = undefined;
  }

  private async login(conn: Connection): Promise<void> {
    this.stats.logins++;
    const p = login(conn, this.creds, this.timeoutMs, this.now).then((result) => {
      if (result === 'disabled') this.disabled = true;
      else this.session = result;
    });
    this.pending = p;
    try {
      await p;
    } finally {
      if (this.pending === p) this.pending = undefined;
    }
  }
}

const LOGIN_REASONS: Partial<Record<number, string>> = {
  [ResultCode.INVALID_USER]: 'the user name or password is wrong',
  [ResultCode.INVALID_PASSWORD]: 'the user name or password is wrong',
  [ResultCode.INVALID_CREDENTIAL]: 'the user name or password is wrong',
  [ResultCode.EXPIRED_PASSWORD]: "the user's password has expired: set a new one",
  [ResultCode.FORBIDDEN_PASSWORD]: 'the server forbids this password for this user (a PKI-only user logs in with --auth PKI)',
  [ResultCode.SECURITY_NOT_SUPPORTED]: 'the server does not support security (Community Edition): connect without --user and --auth',
  [ResultCode.SECURITY_SCHEME_NOT_SUPPORTED]: 'the server does not support this way of logging in (see --auth)',
  [ResultCode.NOT_AUTHENTICATED]: 'the server did not accept the credentials',
};

function loginError(conn: Connection, creds: Credentials, rc: number, detail?: string): LoginError {
  const { host, port } = conn.endpoint;
  const reason =
    detail ??
    (creds.mode === 'PKI' && (rc === ResultCode.INVALID_USER || rc === ResultCode.INVALID_CREDENTIAL)
      ? 'no user of the cluster matches the client certificate (PKI users are named by the certificate\'s common name)'
      : (LOGIN_REASONS[rc] ?? resultCodeHint(rc)));
  const code = rc === ResultCode.OK ? '' : `: ${resultCodeName(rc)} (${rc})`;
  return new LoginError(host, port, creds.user, rc, `login ${creds.who} refused${code}${reason ? `: ${reason}` : ''}`);
}
