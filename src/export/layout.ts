/**
 * Where an export's files go (docs/export.md, "Layout"):
 *
 *   LOCATION/namespace=<NS>/set=<SET>[/snapshot=<UTC time>]/part-<lane>-<seq>.<ext>
 *   LOCATION/_manifest.json, then LOCATION/_SUCCESS                    (without --snapshot)
 *   LOCATION/_snapshots/<UTC time>/_manifest.json, then .../_SUCCESS  (with --snapshot)
 *
 * Partition values are escaped as Hive escapes them (FileUtils.escapePathName): the
 * characters below and control characters become %XX, so engines that read the layout
 * get the set name back. Records in no set go under set=__none__ (a set really named
 * `__none__` is written as %5F%5Fnone%5F%5F; engines read both as `__none__`, and the
 * `_set` column tells them apart).
 */

export const NO_SET_PARTITION = '__none__';
export const MANIFEST_NAME = '_manifest.json';
export const SUCCESS_NAME = '_SUCCESS';
export const SNAPSHOTS_DIRECTORY = '_snapshots';

const HIVE_ESCAPED = new Set(['"', '#', '%', "'", '*', '/', ':', '=', '?', '\\', '\u007f', '{', '[', ']', '^']);

/** A partition value as Hive writes it in a path. */
export function hiveEscape(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    out += code < 0x20 || HIVE_ESCAPED.has(ch) ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : ch;
  }
  return out;
}

/** The value a Hive reader gets back from an escaped path segment. */
export function hiveUnescape(segment: string): string {
  return segment.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The partition value of a set (see the header for records in no set). */
export function setPartition(set: string): string {
  if (set === '') return NO_SET_PARTITION;
  if (set === NO_SET_PARTITION) return '%5F%5Fnone%5F%5F';
  return hiveEscape(set);
}

/** The folder of a set's files, relative to the export's location. */
export function setPrefix(namespace: string, set: string, snapshot: string | undefined): string {
  const base = `namespace=${hiveEscape(namespace)}/set=${setPartition(set)}`;
  return snapshot === undefined ? base : `${base}/snapshot=${snapshot}`;
}

/** `part-<lane>-<seq><ext>`, the lane padded to the width of the highest lane, the sequence to 5 digits. */
export function partFileName(lane: number, lanes: number, seq: number, extension: string): string {
  const width = Math.max(2, String(lanes - 1).length);
  return `part-${String(lane).padStart(width, '0')}-${String(seq).padStart(5, '0')}${extension}`;
}

/** Where the manifest and _SUCCESS of an export go, relative to its location ('' or `_snapshots/<time>/`). */
export function markerPrefix(snapshot: string | undefined): string {
  return snapshot === undefined ? '' : `${SNAPSHOTS_DIRECTORY}/${snapshot}/`;
}
