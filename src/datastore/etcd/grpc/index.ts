/** Our gRPC server on node:http2 (see server.ts and call.ts). */
export type {
  BidiStreamingHandler,
  Handler,
  MethodDefinition,
  ServerCallBase,
  ServerDuplexCall,
  ServerStreamingHandler,
  ServerUnaryCall,
  ServerWritableCall,
  ServiceDefinition,
  UnaryCallback,
  UnaryHandler,
} from './call.js';
export type { Metadata, MetadataValue } from './metadata.js';
export { GRPC_SERVER_LIMITS, GrpcServer, type GrpcServerOptions, parseGrpcTimeout } from './server.js';
export {
  decodeGrpcMessage,
  encodeGrpcMessage,
  GrpcStatusError,
  type ServiceErrorLike,
  Status,
  type StatusCode,
  type StatusObject,
  statusOf,
} from './status.js';
