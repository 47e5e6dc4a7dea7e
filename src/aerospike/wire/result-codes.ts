/** Server result codes (as_status.h), the ones aerobak handles or reports by name. */
export const ResultCode = {
  OK: 0,
  SERVER_ERROR: 1,
  KEY_NOT_FOUND: 2,
  GENERATION: 3,
  PARAMETER: 4,
  KEY_EXISTS: 5,
  BIN_EXISTS: 6,
  CLUSTER_KEY_MISMATCH: 7,
  SERVER_MEM: 8,
  TIMEOUT: 9,
  ALWAYS_FORBIDDEN: 10,
  PARTITION_UNAVAILABLE: 11,
  BIN_TYPE: 12,
  RECORD_TOO_BIG: 13,
  KEY_BUSY: 14,
  SCAN_ABORT: 15,
  UNSUPPORTED_FEATURE: 16,
  BIN_NOT_FOUND: 17,
  DEVICE_OVERLOAD: 18,
  KEY_MISMATCH: 19,
  NAMESPACE_NOT_FOUND: 20,
  BIN_NAME: 21,
  FAIL_FORBIDDEN: 22,
  ELEMENT_NOT_FOUND: 23,
  ELEMENT_EXISTS: 24,
  ENTERPRISE_ONLY: 25,
  OP_NOT_APPLICABLE: 26,
  FILTERED_OUT: 27,
  LOST_CONFLICT: 28,
  XDR_KEY_BUSY: 32,
  QUERY_END: 50,
  SECURITY_NOT_SUPPORTED: 51,
  SECURITY_NOT_ENABLED: 52,
  SECURITY_SCHEME_NOT_SUPPORTED: 53,
  INVALID_COMMAND: 54,
  INVALID_FIELD: 55,
  ILLEGAL_STATE: 56,
  INVALID_USER: 60,
  USER_ALREADY_EXISTS: 61,
  INVALID_PASSWORD: 62,
  EXPIRED_PASSWORD: 63,
  FORBIDDEN_PASSWORD: 64,
  INVALID_CREDENTIAL: 65,
  EXPIRED_SESSION: 66,
  INVALID_ROLE: 70,
  ROLE_ALREADY_EXISTS: 71,
  INVALID_PRIVILEGE: 72,
  INVALID_WHITELIST: 73,
  QUOTAS_NOT_ENABLED: 74,
  INVALID_QUOTA: 75,
  NOT_AUTHENTICATED: 80,
  ROLE_VIOLATION: 81,
  NOT_WHITELISTED: 82,
  QUOTA_EXCEEDED: 83,
  UDF: 100,
  BATCH_DISABLED: 150,
  BATCH_MAX_REQUESTS: 151,
  BATCH_QUEUES_FULL: 152,
  GEO_INVALID_GEOJSON: 160,
  INDEX_FOUND: 200,
  INDEX_NOT_FOUND: 201,
  INDEX_OOM: 202,
  INDEX_NOTREADABLE: 203,
  INDEX_GENERIC: 204,
  INDEX_NAME_MAXLEN: 205,
  INDEX_MAXCOUNT: 206,
  QUERY_ABORTED: 210,
  QUERY_QUEUEFULL: 211,
  QUERY_TIMEOUT: 212,
  QUERY_GENERIC: 213,
} as const;

const names = new Map<number, string>(Object.entries(ResultCode).map(([k, v]) => [v, k]));

export function resultCodeName(code: number): string {
  return names.get(code) ?? `RESULT_${code}`;
}

/**
 * What a security result code means for the person running aerobak, or undefined for
 * codes whose name says enough. Appended to messages that report the code.
 */
export function resultCodeHint(code: number): string | undefined {
  switch (code) {
    case ResultCode.ROLE_VIOLATION:
      return "the cluster user's roles do not allow it (a backup needs the read role, a restore read-write, plus sindex-admin and udf-admin or data-admin for indexes and UDFs)";
    case ResultCode.NOT_AUTHENTICATED:
      return 'the cluster has security enabled: give a user (--user) and a password';
    case ResultCode.NOT_WHITELISTED:
      return "this machine's address is not in the allowlist of the user's roles";
    case ResultCode.QUOTA_EXCEEDED:
      return "the user's roles set a read or write quota that this run exceeds: lower --records-per-second";
    default:
      return undefined;
  }
}

/** Codes after which retrying the same request on the current partition owner may succeed. */
export function isTransientResultCode(code: number): boolean {
  return (
    code === ResultCode.TIMEOUT ||
    code === ResultCode.PARTITION_UNAVAILABLE ||
    code === ResultCode.KEY_BUSY ||
    code === ResultCode.DEVICE_OVERLOAD ||
    code === ResultCode.CLUSTER_KEY_MISMATCH ||
    code === ResultCode.SERVER_MEM ||
    code === ResultCode.BATCH_QUEUES_FULL
  );
}
