/**
 * Request metadata: the request's HTTP/2 headers, read as grpc-js's `Metadata.get(key)` reads
 * them (an array of values; keys ending in "-bin" are base64 and come back as Buffers). Read
 * lazily: most calls look at one key or none, so nothing is copied up front.
 */
import type { IncomingHttpHeaders } from 'node:http2';

export type MetadataValue = string | Buffer;

/** Headers of the transport, not metadata of the application (as grpc-js hides them). */
const RESERVED = new Set([
  'content-type',
  'te',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'accept-encoding',
]);

export class Metadata {
  constructor(private readonly headers: IncomingHttpHeaders) {}

  /** Every value of `key` (case-insensitive); [] when absent. */
  get(key: string): MetadataValue[] {
    const name = key.toLowerCase();
    if (name.startsWith(':') || RESERVED.has(name)) return [];
    const raw = this.headers[name];
    if (raw === undefined) return [];
    const values = Array.isArray(raw) ? raw : [raw];
    if (!name.endsWith('-bin')) return values;
    // Several binary values may arrive joined with commas in one header.
    return values.flatMap((v) => v.split(',')).map((v) => Buffer.from(v.trim(), 'base64'));
  }
}
