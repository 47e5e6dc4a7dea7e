/**
 * Admin (security) messages, proto type 2, as the C client's as_admin.c writes and reads
 * them. A message is a 16-byte header and its fields:
 *
 *   header   u8 scheme (0), u8 result code (replies), u8 command (requests),
 *            u8 field count, 12 bytes zero
 *   field    u32 BE size (the id byte plus the data), u8 id, data
 *
 * Strings (user name, password hash) are UTF-8 without a terminating zero; the session
 * TTL is a u32 BE of seconds. aerobak sends LOGIN (the user and the bcrypt hash of the
 * password, see auth.ts) and AUTHENTICATE (the user and the session token LOGIN
 * returned); the reply to either is one message whose header carries the result code.
 * The other commands (user and role administration) are named here for the test server
 * and for messages; aerobak never sends them.
 */
import { ProtoType, ProtocolError, encodeFrame } from './proto.js';

export const ADMIN_HEADER_SIZE = 16;

export const AdminCommand = {
  AUTHENTICATE: 0,
  CREATE_USER: 1,
  DROP_USER: 2,
  SET_PASSWORD: 3,
  CHANGE_PASSWORD: 4,
  GRANT_ROLES: 5,
  REVOKE_ROLES: 6,
  QUERY_USERS: 9,
  CREATE_ROLE: 10,
  DROP_ROLE: 11,
  GRANT_PRIVILEGES: 12,
  REVOKE_PRIVILEGES: 13,
  SET_WHITELIST: 14,
  SET_QUOTAS: 15,
  QUERY_ROLES: 16,
  LOGIN: 20,
} as const;

export const AdminField = {
  USER: 0,
  PASSWORD: 1,
  OLD_PASSWORD: 2,
  /** The bcrypt hash of the password (INTERNAL and EXTERNAL logins). */
  CREDENTIAL: 3,
  /** The password itself (EXTERNAL logins only: the server hands it to LDAP). */
  CLEAR_PASSWORD: 4,
  SESSION_TOKEN: 5,
  /** u32 BE, seconds. */
  SESSION_TTL: 6,
  ROLES: 10,
  ROLE: 11,
  PRIVILEGES: 12,
  WHITELIST: 13,
  READ_QUOTA: 14,
  WRITE_QUOTA: 15,
  READ_INFO: 16,
  WRITE_INFO: 17,
  CONNECTIONS: 18,
} as const;

export interface AdminFieldValue {
  id: number;
  data: Buffer;
}

export interface AdminMessage {
  scheme: number;
  resultCode: number;
  command: number;
  fields: AdminFieldValue[];
}

/** A whole frame (proto header included) holding one admin message. */
export function encodeAdminMessage(msg: { command?: number; resultCode?: number; fields?: readonly AdminFieldValue[] }): Buffer {
  const fields = msg.fields ?? [];
  if (fields.length > 255) throw new RangeError('an admin message holds at most 255 fields');
  let size = ADMIN_HEADER_SIZE;
  for (const f of fields) size += 5 + f.data.length;
  const body = Buffer.alloc(size);
  body[1] = msg.resultCode ?? 0;
  body[2] = msg.command ?? 0;
  body[3] = fields.length;
  let at = ADMIN_HEADER_SIZE;
  for (const f of fields) {
    body.writeUInt32BE(f.data.length + 1, at);
    body[at + 4] = f.id;
    f.data.copy(body, at + 5);
    at += 5 + f.data.length;
  }
  return encodeFrame(ProtoType.ADMIN, body);
}

/** Parses an admin message body (after the proto header); throws ProtocolError when it is cut short. */
export function decodeAdminMessage(body: Buffer): AdminMessage {
  if (body.length < ADMIN_HEADER_SIZE) throw new ProtocolError(`admin message of ${body.length} bytes is shorter than its ${ADMIN_HEADER_SIZE}-byte header`);
  const count = body[3]!;
  const fields: AdminFieldValue[] = [];
  let at = ADMIN_HEADER_SIZE;
  for (let i = 0; i < count; i++) {
    if (at + 5 > body.length) throw new ProtocolError(`admin message field ${i} of ${count} is cut short`);
    const size = body.readUInt32BE(at);
    if (size < 1 || at + 4 + size > body.length) throw new ProtocolError(`admin message field ${i} claims ${size} bytes, ${body.length - at - 4} are left`);
    fields.push({ id: body[at + 4]!, data: body.subarray(at + 5, at + 4 + size) });
    at += 4 + size;
  }
  return { scheme: body[0]!, resultCode: body[1]!, command: body[2]!, fields };
}

export function stringField(id: number, value: string): AdminFieldValue {
  return { id, data: Buffer.from(value, 'utf8') };
}

export function u32Field(id: number, value: number): AdminFieldValue {
  const data = Buffer.alloc(4);
  data.writeUInt32BE(value >>> 0, 0);
  return { id, data };
}

export function findAdminField(msg: AdminMessage, id: number): Buffer | undefined {
  return msg.fields.find((f) => f.id === id)?.data;
}
