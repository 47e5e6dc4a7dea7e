/**
 * The Node.js versions aerobak runs on, checked before anything else is loaded.
 *
 * This module must stay free of imports and of syntax newer than the oldest Node a
 * person might start aerobak with, so that an old runtime gets one clear line instead
 * of a syntax error or a stack trace from deep inside a dependency.
 */

/** The oldest supported release: zstd in node:zlib, and what the AWS SDK needs from 2027. */
export const MIN_NODE = { major: 22, minor: 15 } as const;

/** The supported range, as `engines.node` in package.json says it. */
export const SUPPORTED_NODE = `>=${MIN_NODE.major}.${MIN_NODE.minor}`;

/**
 * Null if `version` (`process.versions.node`, e.g. "24.22.3") is supported, else the one
 * line to print: which versions aerobak needs and which one it was started with.
 */
export function unsupportedNodeMessage(version: string): string | null {
  const [major = NaN, minor = NaN] = version.split('.').map(Number);
  const ok = major > MIN_NODE.major || (major === MIN_NODE.major && minor >= MIN_NODE.minor);
  if (ok) return null;
  return `aerobak: error: aerobak needs Node.js ${MIN_NODE.major}.${MIN_NODE.minor} or newer (22 LTS from 22.15, 24 LTS, or later); this is Node.js ${version}`;
}
