/**
 * TLS to the cluster (node:tls), configured the way asbackup and the C client take it:
 * a CA file or directory, an optional client certificate and key (mutual TLS, PKI
 * login), the key's password, the protocol versions, and a TLS name per node.
 *
 * What is checked: the server's certificate chain against the given CAs (or, with none
 * given, Node's bundled roots plus the system's), and the node's TLS name against the
 * certificate's subjectAltName (DNS or IP entries; the common name only when there are
 * none), as the C client's as_tls_match_name does. The TLS name, not the address dialled,
 * is what is checked: a node reached as 10.0.0.7 with TLS name "db1.example" must have a
 * certificate for db1.example. A node given without a TLS name is checked against its
 * host (a name or an IP). Both checks are always on; there is no switch to turn them off.
 *
 * Errors say what failed (not trusted, name mismatch, client certificate refused, no
 * common protocol, not a TLS port) in one sentence; the connection layer adds the node.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { UsageError } from '../errors.js';

export interface TlsOptions {
  /** TLS name for seeds given without one (HOST:TLSNAME:PORT sets one per host) and for peers that announce none. */
  name?: string;
  /** CA certificates (PEM). Default: Node's bundled roots and the system's. */
  ca?: Array<string | Buffer>;
  /** Client certificate chain (PEM), for servers that require one (mutual TLS) and for PKI login. */
  cert?: string | Buffer;
  /** The client certificate's private key (PEM). */
  key?: string | Buffer;
  /** Password of an encrypted key. */
  keyPassword?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
}

/** What the connection layer needs per connection: one shared context and the name to check. */
export interface TlsConnect {
  context: tls.SecureContext;
  /** The name to check when the endpoint carries none (the default TLS name). */
  name: string | undefined;
}

const VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const satisfies readonly tls.SecureVersion[];

/**
 * asbackup's --tls-protocols: versions separated by spaces ("TLSv1.2 TLSv1.3"), "all",
 * and "+"/"-" edits ("all -TLSv1 -TLSv1.1"); a version without a sign adds to the set,
 * as "+" does (the C client refuses a second unsigned word; aerobak takes the list).
 * Node takes a range (minVersion..maxVersion), so the set must have no gap. SSLv2/SSLv3
 * are refused. The default, when not given, is TLSv1.2 and TLSv1.3.
 */
export function parseTlsProtocols(text: string): { minVersion: tls.SecureVersion; maxVersion: tls.SecureVersion } {
  const on = new Set<tls.SecureVersion>();
  for (const token of text.split(/[\s,]+/).filter((t) => t.length > 0)) {
    const minus = token[0] === '-';
    const name = token[0] === '+' || minus ? token.slice(1) : token;
    if (/^SSLv[23]$/i.test(name)) throw new Error(`${name} is not supported (insecure)`);
    const picked = name.toLowerCase() === 'all' ? [...VERSIONS] : VERSIONS.filter((v) => v.toLowerCase() === name.toLowerCase());
    if (picked.length === 0) throw new Error(`unknown TLS protocol "${name}" (known: ${VERSIONS.join(', ')}, all)`);
    for (const v of picked) {
      if (minus) on.delete(v);
      else on.add(v);
    }
  }
  const chosen = VERSIONS.filter((v) => on.has(v));
  if (chosen.length === 0) throw new Error('no TLS protocol is left');
  const lo = VERSIONS.indexOf(chosen[0]!);
  const hi = VERSIONS.indexOf(chosen.at(-1)!);
  if (hi - lo + 1 !== chosen.length) throw new Error(`${chosen.join(' ')} has a gap: give a contiguous range of versions`);
  return { minVersion: VERSIONS[lo]!, maxVersion: VERSIONS[hi]! };
}

/** The TLS flags as asbackup names them; values are paths and texts from the command line. */
export interface TlsFlags {
  name?: string;
  cafile?: string;
  capath?: string;
  certfile?: string;
  keyfile?: string;
  /** "env:VAR", "file:PATH" or the password itself, as asbackup takes it. */
  keyfilePassword?: string;
  protocols?: string;
}

/** Reads the files the TLS flags name; every failure is a UsageError naming the flag and the path. */
export function loadTlsOptions(flags: TlsFlags, env: NodeJS.ProcessEnv = process.env): TlsOptions {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UsageError(`--${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const out: TlsOptions = {};
  if (flags.name !== undefined) {
    if (flags.name.trim() === '') throw new UsageError('--tls-name is empty');
    out.name = flags.name.trim();
  }
  const ca: Buffer[] = [];
  if (flags.cafile !== undefined) ca.push(read('tls-cafile', flags.cafile));
  if (flags.capath !== undefined) ca.push(...readCaDirectory(flags.capath, read));
  if (ca.length > 0) out.ca = ca;
  if ((flags.certfile === undefined) !== (flags.keyfile === undefined)) {
    throw new UsageError('--tls-certfile and --tls-keyfile go together: the client certificate and its private key');
  }
  if (flags.certfile !== undefined) out.cert = read('tls-certfile', flags.certfile);
  if (flags.keyfile !== undefined) out.key = read('tls-keyfile', flags.keyfile);
  if (flags.keyfilePassword !== undefined) {
    if (flags.keyfile === undefined) throw new UsageError('--tls-keyfile-password needs --tls-keyfile');
    out.keyPassword = secretValue(flags.keyfilePassword, env);
  }
  if (flags.protocols !== undefined) {
    try {
      Object.assign(out, parseTlsProtocols(flags.protocols));
    } catch (err) {
      throw new UsageError(`--tls-protocols "${flags.protocols}": ${(err as Error).message}`);
    }
  }
  return out;
}

/** "env:VAR" → the variable, "file:PATH" → the file's first line, else the text itself. Messages never hold the secret. */
function secretValue(text: string, env: NodeJS.ProcessEnv): string {
  if (text.startsWith('env:')) {
    const name = text.slice(4);
    const v = env[name];
    if (v === undefined || v === '') throw new UsageError(`--tls-keyfile-password env:${name}: the environment variable ${name} is not set`);
    return v;
  }
  if (text.startsWith('file:')) {
    const path = text.slice(5);
    let content: string;
    try {
      content = readFileSync(path, 'utf8');
    } catch (err) {
      throw new UsageError(`--tls-keyfile-password file:${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return content.split(/\r?\n/, 1)[0]!;
  }
  return text;
}

/** Every file of the directory that holds a PEM certificate (hashed names, .pem, .crt: all are read). */
function readCaDirectory(path: string, read: (flag: string, path: string) => Buffer): Buffer[] {
  let names: string[];
  try {
    names = readdirSync(path).sort();
  } catch (err) {
    throw new UsageError(`--tls-capath ${path}: cannot list it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const out: Buffer[] = [];
  for (const name of names) {
    const file = join(path, name);
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) continue;
    const pem = read('tls-capath', file);
    if (pem.includes('-----BEGIN CERTIFICATE-----')) out.push(pem);
  }
  if (out.length === 0) throw new UsageError(`--tls-capath ${path}: holds no PEM certificate`);
  return out;
}

/**
 * Builds the context every connection of a cluster shares; a bad certificate, key or key
 * password fails here, once, with a UsageError that names what is wrong.
 */
export function createTlsConnect(o: TlsOptions): TlsConnect {
  let ca = o.ca;
  if (ca === undefined) {
    // Like OpenSSL's default paths in the C client: the system's CAs, plus Node's bundled roots.
    ca = [...tls.getCACertificates('default')];
    try {
      ca.push(...tls.getCACertificates('system'));
    } catch {
      // No readable system store: the bundled roots alone.
    }
  }
  try {
    const context = tls.createSecureContext({
      ca,
      ...(o.cert !== undefined ? { cert: o.cert } : {}),
      ...(o.key !== undefined ? { key: o.key } : {}),
      ...(o.keyPassword !== undefined ? { passphrase: o.keyPassword } : {}),
      minVersion: o.minVersion ?? 'TLSv1.2',
      maxVersion: o.maxVersion ?? 'TLSv1.3',
    });
    return { context, name: o.name };
  } catch (err) {
    throw new UsageError(`TLS setup failed: ${describeContextError(err as NodeJS.ErrnoException, o)}`);
  }
}

function describeContextError(err: NodeJS.ErrnoException, o: TlsOptions): string {
  const text = `${err.code ?? ''} ${err.message}`;
  if (/bad decrypt|BAD_DECRYPT|interrupted or cancelled|bad password/i.test(text)) {
    return o.keyPassword === undefined
      ? 'the key in --tls-keyfile is encrypted: give its password with --tls-keyfile-password'
      : 'the key in --tls-keyfile cannot be decrypted with the --tls-keyfile-password given';
  }
  if (/KEY_VALUES_MISMATCH|key values mismatch/i.test(text)) return 'the key in --tls-keyfile does not belong to the certificate in --tls-certfile';
  if (/PEM|NO_START_LINE|ASN1|DECODER/i.test(text)) return `a certificate or key file is not valid PEM (${err.message})`;
  return err.message;
}

/** The name to check and send (SNI) for a node: its own TLS name, else the default, else its host. */
export function tlsNameOf(endpoint: { host: string; tlsName?: string }, defaultName: string | undefined): string {
  return endpoint.tlsName ?? defaultName ?? endpoint.host;
}

/** Options for tls.connect that check `name` (not the address dialled) against the certificate. */
export function tlsConnectOptions(t: TlsConnect, name: string): tls.ConnectionOptions {
  return {
    secureContext: t.context,
    // SNI takes host names only (RFC 6066); an IP is still checked, against IP entries.
    ...(isIP(name) === 0 ? { servername: name } : {}),
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
  };
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/**
 * One sentence for a TLS failure (without the node, which the caller adds), or undefined
 * when the error is not about TLS. `name` is the TLS name that was checked.
 */
export function describeTlsError(err: NodeJS.ErrnoException & { reason?: string }, name: string): string | undefined {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS name mismatch: the server's certificate is not for "${name}" (${err.reason ?? err.message}); give the node's TLS name as HOST:TLSNAME:PORT or with --tls-name`;
  }
  if (UNTRUSTED.has(code)) {
    return `TLS: the server's certificate is not trusted (${err.message}); give the CA that issued it with --tls-cafile or --tls-capath`;
  }
  if (code === 'CERT_HAS_EXPIRED') return `TLS: the server's certificate has expired (${err.message})`;
  if (code === 'CERT_NOT_YET_VALID') return `TLS: the server's certificate is not valid yet (${err.message})`;
  if (!code.startsWith('ERR_SSL_') && !/ssl|tls/i.test(err.message)) return undefined;
  if (code === 'ECONNRESET' || /before secure TLS connection/.test(err.message)) {
    return 'TLS handshake failed: the server closed the connection; is this its TLS port (often 4333), with TLS configured?';
  }
  if (/CERTIFICATE_REQUIRED/.test(code)) return 'TLS handshake failed: the server requires a client certificate; give --tls-certfile and --tls-keyfile';
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)/.test(code)) {
    return `TLS handshake failed: the server refused the client certificate (${err.message})`;
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE|HTTP_REQUEST/.test(code)) {
    return 'TLS handshake failed: the server did not answer in TLS; is this its TLS port (often 4333), with TLS configured?';
  }
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|NO_PROTOCOLS_AVAILABLE|VERSION_TOO_LOW|VERSION_TOO_HIGH/.test(code)) {
    return `TLS handshake failed: no TLS version that both sides accept (${err.message}); see --tls-protocols`;
  }
  return `TLS handshake failed: ${err.message}`;
}
