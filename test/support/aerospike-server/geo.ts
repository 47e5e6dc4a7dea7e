/**
 * GeoJSON bins (particle 23). Clients write `u8 flags, u16 ncells, ncells × u64 cells,
 * JSON` with no cells; the real server ignores incoming cells, parses the JSON, and
 * stores flags (1 = region), the S2 cells indexing the value (the leaf cell of a point,
 * up to 12 covering cells of a region), then the JSON text. Reads and scans return that.
 *
 * This server cannot run the S2 region coverer, so the cell ids it stores are
 * PLACEHOLDERS: the level-0 S2 face cell of each coordinate (a point gets its face
 * cell where the real server stores a level-30 leaf cell; a region gets the distinct
 * face cells of its vertices or centre). They are valid S2 cell ids that contain the
 * value, so a reader that skips `3 + 8 × ncells` bytes sees the same layout, but they
 * are NOT the bytes a real server would store. Values that are not a Point, Polygon,
 * MultiPolygon or AeroCircle, or not JSON, fail with 160 GEO_INVALID_GEOJSON, as on the
 * real server.
 */
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ResultError } from './errors.js';

const GEOJSON_ISREGION = 0x1;

function invalid(message: string): ResultError {
  return new ResultError(ResultCode.GEO_INVALID_GEOJSON, `invalid GeoJSON: ${message}`);
}

/** The stored form of a GeoJSON value written by a client. */
export function geoJsonToStored(wire: Buffer): Buffer {
  if (wire.length < 3) throw invalid('value shorter than its 3-byte header');
  const start = 3 + 8 * wire.readUInt16BE(1);
  if (start > wire.length) throw invalid('cell count runs past the value');
  const json = wire.subarray(start);
  let doc: unknown;
  try {
    doc = JSON.parse(json.toString('utf8'));
  } catch {
    throw invalid('not JSON');
  }
  const { region, points } = geometry(doc);
  const cells = [...new Set(points.map(([lng, lat]) => faceCell(lng, lat)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out = Buffer.allocUnsafe(3 + 8 * cells.length + json.length);
  out[0] = region ? GEOJSON_ISREGION : 0;
  out.writeUInt16BE(cells.length, 1);
  cells.forEach((c, i) => out.writeBigUInt64BE(c, 3 + 8 * i));
  json.copy(out, 3 + 8 * cells.length);
  return out;
}

type LngLat = [number, number];

function geometry(doc: unknown): { region: boolean; points: LngLat[] } {
  if (typeof doc !== 'object' || doc === null) throw invalid('not an object');
  const { type, coordinates } = doc as { type?: unknown; coordinates?: unknown };
  switch (type) {
    case 'Point':
      return { region: false, points: [lngLat(coordinates)] };
    case 'Polygon':
      return { region: true, points: rings(coordinates) };
    case 'MultiPolygon':
      if (!Array.isArray(coordinates) || coordinates.length === 0) throw invalid('MultiPolygon without polygons');
      return { region: true, points: coordinates.flatMap(rings) };
    case 'AeroCircle':
      if (!Array.isArray(coordinates) || coordinates.length !== 2 || typeof coordinates[1] !== 'number') {
        throw invalid('AeroCircle must be [[lng, lat], radius]');
      }
      return { region: true, points: [lngLat(coordinates[0])] };
    default:
      throw invalid(`unsupported type ${String(type)}`);
  }
}

function rings(coordinates: unknown): LngLat[] {
  if (!Array.isArray(coordinates) || coordinates.length === 0) throw invalid('polygon without rings');
  return coordinates.flatMap((ring: unknown) => {
    if (!Array.isArray(ring) || ring.length < 4) throw invalid('polygon ring needs at least 4 positions');
    return ring.map(lngLat);
  });
}

function lngLat(v: unknown): LngLat {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || typeof v[1] !== 'number') {
    throw invalid('position must be [lng, lat]');
  }
  const [lng, lat] = v as [number, number];
  if (Math.abs(lat) > 90 || Math.abs(lng) > 180) throw invalid('position out of range');
  return [lng, lat];
}

/** S2CellId::FromFace() of the cube face holding the point (face << 61 | 1 << 60). */
function faceCell(lng: number, lat: number): bigint {
  const phi = (lat * Math.PI) / 180;
  const theta = (lng * Math.PI) / 180;
  const xyz = [Math.cos(phi) * Math.cos(theta), Math.cos(phi) * Math.sin(theta), Math.sin(phi)];
  let axis = 0;
  for (let i = 1; i < 3; i++) if (Math.abs(xyz[i]!) > Math.abs(xyz[axis]!)) axis = i;
  const face = xyz[axis]! < 0 ? axis + 3 : axis;
  return (BigInt(face) << 61n) | (1n << 60n);
}
