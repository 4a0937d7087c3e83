/**
 * grpc-js service definitions of the etcd API built on our own codec (codec.ts) from our own
 * .proto files, in place of @grpc/proto-loader's: the same shape (path, stream flags, the four
 * (de)serializers, originalName as proto-loader spells it), without protobufjs in memory.
 *
 * The grpc-js import is for types only: tests and tools hand these definitions to grpc-js clients,
 * while the daemon serves them with our own server (../grpc).
 */
import type * as grpc from '@grpc/grpc-js';
import { MicroK8sError } from '../../../lib/errors.js';
import { type Codecs, createCodecs } from './codec.js';
import { loadSchema, type Schema, type ServiceSchema } from './schema.js';

/** The files the etcd API is defined in (rpc.proto imports kv.proto). */
export const ETCD_PROTO_FILES = ['rpc.proto', 'health.proto'] as const;

export interface EtcdServiceDefinitions {
  readonly KV: grpc.ServiceDefinition;
  readonly Watch: grpc.ServiceDefinition;
  readonly Lease: grpc.ServiceDefinition;
  readonly Cluster: grpc.ServiceDefinition;
  readonly Maintenance: grpc.ServiceDefinition;
  readonly Health: grpc.ServiceDefinition;
}

const SERVICE_NAMES = {
  KV: 'etcdserverpb.KV',
  Watch: 'etcdserverpb.Watch',
  Lease: 'etcdserverpb.Lease',
  Cluster: 'etcdserverpb.Cluster',
  Maintenance: 'etcdserverpb.Maintenance',
  Health: 'grpc.health.v1.Health',
} as const satisfies Record<keyof EtcdServiceDefinitions, string>;

/**
 * A method name in lower camel case, as proto-loader (lodash's camelCase) spells `originalName`:
 * words split at case changes and digits, "HashKV" becomes "hashKv". grpc-js accepts an
 * implementation under either name.
 */
export function camelCase(name: string): string {
  const words = name.match(/[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+/g) ?? [];
  return words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
}

/** The grpc-js definition of one service of `schema`. */
export function serviceDefinition(schema: Schema, codecs: Codecs, name: string): grpc.ServiceDefinition {
  const svc: ServiceSchema | undefined = schema.services.get(name);
  if (svc === undefined)
    throw new MicroK8sError('MK_INTERNAL', `etcd proto definitions have no service ${name}`);
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of svc.methods) {
    const request = codecs.get(m.requestType);
    const response = codecs.get(m.responseType);
    def[m.name] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (value: unknown) => request.encode(value as object),
      requestDeserialize: (bytes: Buffer) => request.decode(bytes),
      responseSerialize: (value: unknown) => response.encode(value as object),
      responseDeserialize: (bytes: Buffer) => response.decode(bytes),
      originalName: camelCase(m.name),
    };
  }
  return def;
}

const cache = new Map<string, EtcdServiceDefinitions>();

/** The six etcd services from the .proto files in `dir`, parsed once per folder per process. */
export function etcdServiceDefinitions(dir: string): EtcdServiceDefinitions {
  const cached = cache.get(dir);
  if (cached !== undefined) return cached;
  const schema = loadSchema(dir, ETCD_PROTO_FILES);
  const codecs = createCodecs(schema);
  const defs: EtcdServiceDefinitions = {
    KV: serviceDefinition(schema, codecs, SERVICE_NAMES.KV),
    Watch: serviceDefinition(schema, codecs, SERVICE_NAMES.Watch),
    Lease: serviceDefinition(schema, codecs, SERVICE_NAMES.Lease),
    Cluster: serviceDefinition(schema, codecs, SERVICE_NAMES.Cluster),
    Maintenance: serviceDefinition(schema, codecs, SERVICE_NAMES.Maintenance),
    Health: serviceDefinition(schema, codecs, SERVICE_NAMES.Health),
  };
  cache.set(dir, defs);
  return defs;
}
