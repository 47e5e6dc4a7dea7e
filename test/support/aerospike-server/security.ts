/**
 * Access control, as an Aerospike Enterprise server with `security` configured does it,
 * for what aerobak and the official client use: users with passwords (or PKI / external
 * users), the predefined roles, LOGIN and AUTHENTICATE with session tokens, and the
 * permission checks of reads, writes and the admin info commands.
 *
 * Admin messages (proto type 2, src/aerospike/wire/admin.ts):
 *   LOGIN          USER + CREDENTIAL (bcrypt hash, fixed salt): internal users;
 *                  USER + CREDENTIAL + CLEAR_PASSWORD: external users check the clear one;
 *                  no field: PKI, the user is the TLS client certificate's common name.
 *                  Reply: SESSION_TOKEN (32 random bytes) and SESSION_TTL (seconds); the
 *                  connection is then authenticated.
 *   AUTHENTICATE   USER + SESSION_TOKEN (PKI: the token alone): authenticates the
 *                  connection; an expired token (server clock) answers EXPIRED_SESSION.
 *   anything else  INVALID_COMMAND (54): user and role administration is not implemented.
 * Refusals: unknown user INVALID_USER (60); wrong password, or a password for a PKI-only
 * user, INVALID_CREDENTIAL (65) (the code the server returns for a PKI-only user, as
 * reported in aerospike-client-java#476); an unknown token INVALID_CREDENTIAL; PKI without
 * a verified client certificate NOT_AUTHENTICATED (80). Tokens are valid on every node
 * (one store per cluster); a connection authenticated once stays authenticated when its
 * token later expires: only new connections need a valid token, which is what the C
 * client assumes (it authenticates new connections, never pooled ones again).
 *
 * Before a connection is authenticated, info commands answer "ERROR:80:not
 * authenticated" and transactions result 80. Roles and what they permit (the server's
 * predefined roles): read = reads and scans; write = writes and deletes; read-write =
 * both; read-write-udf = both (UDFs do not run here); sindex-admin, udf-admin, truncate =
 * those info commands; data-admin and sys-admin = the three; user-admin = nothing here.
 * A refused transaction or row answers ROLE_VIOLATION (81), a refused info command
 * "ERROR:81:role violation".
 *
 * Not reproduced: user-defined roles and namespace/set-scoped privileges, allowlists,
 * quotas, LDAP (an external user's password is compared here), the audit trail, and the
 * exact result codes of a real server for every refusal (they are the ones above,
 * chosen from the C client's as_status.h; not checked against Enterprise).
 */
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { AdminCommand, AdminField, decodeAdminMessage, encodeAdminMessage, findAdminField, u32Field, type AdminMessage } from '../../../src/aerospike/wire/admin.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import type { ServerClock } from './clock.js';

export interface TestUser {
  user: string;
  /** Internal users: the password. Omitted for PKI-only users. */
  password?: string;
  /** Predefined role names: read, write, read-write, read-write-udf, sindex-admin, udf-admin, truncate, data-admin, sys-admin, user-admin. */
  roles: string[];
  /** LDAP-style user: LOGIN must carry the clear password (the client's --auth EXTERNAL). */
  external?: boolean;
  /** May log in with a TLS client certificate whose common name is the user name (--auth PKI). */
  pki?: boolean;
}

export interface SecurityOptions {
  users: TestUser[];
  /** Session token lifetime in seconds (the server's session-ttl; default 86400). */
  sessionTtlSeconds?: number;
}

export type Permission = 'read' | 'write' | 'sindex-admin' | 'udf-admin' | 'truncate';

const ROLE_PERMISSIONS: Record<string, readonly Permission[]> = {
  read: ['read'],
  write: ['write'],
  'read-write': ['read', 'write'],
  'read-write-udf': ['read', 'write'],
  'sindex-admin': ['sindex-admin'],
  'udf-admin': ['udf-admin'],
  truncate: ['truncate'],
  'data-admin': ['sindex-admin', 'udf-admin', 'truncate'],
  'sys-admin': ['sindex-admin', 'udf-admin', 'truncate'],
  'user-admin': [],
};

/** The fixed salt of every Aerospike client (aerospike-common as_password.c). */
const CLIENT_SALT = '$2a$10$7EqJtq98hPqEX7fNZaFWoO';

interface UserEntry {
  spec: TestUser;
  /** The CREDENTIAL a client sends for the password: bcrypt with the fixed salt. */
  credential: string | undefined;
  permissions: ReadonlySet<Permission>;
}

/** An authenticated connection's identity. */
export interface Principal {
  user: string;
  permissions: ReadonlySet<Permission>;
}

export interface SecurityStats {
  logins: number;
  refusedLogins: number;
  authentications: number;
  refusedAuthentications: number;
  /** Result codes of refused LOGINs and AUTHENTICATEs, in order. */
  refusals: number[];
}

/** Per-connection state the admin handler reads and sets. */
export interface SecuredConnection {
  principal: Principal | undefined;
  /** The TLS socket, when the connection came through the TLS listener. */
  readonly tlsSocket: TLSSocket | undefined;
}

export class Security {
  private readonly users = new Map<string, UserEntry>();
  private readonly tokens = new Map<string, { user: string; expiresAtMs: number }>();
  readonly ttlSeconds: number;
  readonly stats: SecurityStats = { logins: 0, refusedLogins: 0, authentications: 0, refusedAuthentications: 0, refusals: [] };

  constructor(
    opts: SecurityOptions,
    private readonly clock: ServerClock,
  ) {
    this.ttlSeconds = opts.sessionTtlSeconds ?? 86400;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1) throw new RangeError(`sessionTtlSeconds must be a positive integer, got ${this.ttlSeconds}`);
    for (const spec of opts.users) {
      const permissions = new Set<Permission>();
      for (const role of spec.roles) {
        const perms = ROLE_PERMISSIONS[role];
        if (!perms) throw new RangeError(`user ${spec.user}: unknown role '${role}' (known: ${Object.keys(ROLE_PERMISSIONS).join(', ')})`);
        for (const p of perms) permissions.add(p);
      }
      const credential = spec.password !== undefined ? bcrypt.hashSync(spec.password, CLIENT_SALT) : undefined;
      this.users.set(spec.user, { spec, credential, permissions });
    }
  }

  /** Makes every token issued so far expired: new connections must log in again. */
  expireSessions(): void {
    const now = this.clock.nowMs();
    for (const t of this.tokens.values()) t.expiresAtMs = Math.min(t.expiresAtMs, now - 1);
  }

  /** Answers one admin message; authenticates `conn` on success. */
  handleAdmin(conn: SecuredConnection, body: Buffer): Buffer {
    let msg: AdminMessage;
    try {
      msg = decodeAdminMessage(body);
    } catch {
      return reply(ResultCode.INVALID_FIELD);
    }
    switch (msg.command) {
      case AdminCommand.LOGIN:
        return this.login(conn, msg);
      case AdminCommand.AUTHENTICATE:
        return this.authenticate(conn, msg);
      default:
        return reply(ResultCode.INVALID_COMMAND);
    }
  }

  private login(conn: SecuredConnection, msg: AdminMessage): Buffer {
    const refuse = (rc: number): Buffer => {
      this.stats.refusedLogins++;
      this.stats.refusals.push(rc);
      return reply(rc);
    };
    const userField = findAdminField(msg, AdminField.USER);
    let entry: UserEntry | undefined;
    if (userField === undefined) {
      // PKI: the user is the verified client certificate's common name.
      const socket = conn.tlsSocket;
      const cn = socket?.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
      if (typeof cn !== 'string') return refuse(ResultCode.NOT_AUTHENTICATED);
      entry = this.users.get(cn);
      if (!entry || !entry.spec.pki) return refuse(ResultCode.INVALID_USER);
    } else {
      entry = this.users.get(userField.toString('utf8'));
      if (!entry) return refuse(ResultCode.INVALID_USER);
      if (entry.spec.external) {
        const clear = findAdminField(msg, AdminField.CLEAR_PASSWORD)?.toString('utf8');
        if (clear === undefined || clear !== entry.spec.password) return refuse(ResultCode.INVALID_CREDENTIAL);
      } else {
        const credential = findAdminField(msg, AdminField.CREDENTIAL)?.toString('utf8');
        if (entry.credential === undefined || credential !== entry.credential) return refuse(ResultCode.INVALID_CREDENTIAL);
      }
    }
    const token = randomBytes(32);
    this.tokens.set(token.toString('hex'), { user: entry.spec.user, expiresAtMs: this.clock.nowMs() + this.ttlSeconds * 1000 });
    conn.principal = { user: entry.spec.user, permissions: entry.permissions };
    this.stats.logins++;
    return encodeAdminMessage({ resultCode: ResultCode.OK, fields: [{ id: AdminField.SESSION_TOKEN, data: token }, u32Field(AdminField.SESSION_TTL, this.ttlSeconds)] });
  }

  private authenticate(conn: SecuredConnection, msg: AdminMessage): Buffer {
    const refuse = (rc: number): Buffer => {
      this.stats.refusedAuthentications++;
      this.stats.refusals.push(rc);
      return reply(rc);
    };
    const token = findAdminField(msg, AdminField.SESSION_TOKEN);
    const session = token && this.tokens.get(token.toString('hex'));
    if (!session) return refuse(ResultCode.INVALID_CREDENTIAL);
    const userField = findAdminField(msg, AdminField.USER);
    if (userField !== undefined && userField.toString('utf8') !== session.user) return refuse(ResultCode.INVALID_CREDENTIAL);
    if (this.clock.nowMs() >= session.expiresAtMs) return refuse(ResultCode.EXPIRED_SESSION);
    const entry = this.users.get(session.user);
    if (!entry) return refuse(ResultCode.INVALID_USER);
    conn.principal = { user: session.user, permissions: entry.permissions };
    this.stats.authentications++;
    return reply(ResultCode.OK);
  }
}

function reply(resultCode: number): Buffer {
  return encodeAdminMessage({ resultCode });
}

/**
 * The result code for a connection doing something that needs `permission`: 0 when
 * security is off or the principal holds it, 80 before authentication, 81 otherwise.
 */
export function accessResult(security: Security | undefined, conn: SecuredConnection, permission: Permission | undefined): number {
  if (!security) return ResultCode.OK;
  if (!conn.principal) return ResultCode.NOT_AUTHENTICATED;
  if (permission === undefined || conn.principal.permissions.has(permission)) return ResultCode.OK;
  return ResultCode.ROLE_VIOLATION;
}

/** The info commands that need a permission beyond being authenticated. */
export const INFO_PERMISSIONS: Readonly<Record<string, Permission>> = {
  'sindex-create': 'sindex-admin',
  'sindex-delete': 'sindex-admin',
  'udf-put': 'udf-admin',
  'udf-remove': 'udf-admin',
  truncate: 'truncate',
  'truncate-namespace': 'truncate',
};
