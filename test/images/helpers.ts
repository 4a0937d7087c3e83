// Shared by the image tests: a small image built from files made here, and stream helpers.
import { gunzipSync } from 'node:zlib';
import * as assert from 'uvu/assert';
import { isMicroK8sError } from '../../src/lib/errors.js';
import { buildImageLayout, type ImageLayout } from '../../src/services/images/oci-layout.js';

export function sampleImage(name = 'localhost/microk8s/sample:1'): ImageLayout {
  return buildImageLayout({
    name,
    files: [
      { type: 'file', path: 'bin/hello', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hello\n') },
      { type: 'file', path: 'etc/motd', mode: 0o644, data: Buffer.from('hi\n') },
      { type: 'symlink', path: 'bin/hi', target: 'hello' },
      { type: 'dir', path: 'tmp', mode: 0o1777 },
    ],
    entrypoint: ['/bin/hello'],
    cmd: ['--loud'],
    env: ['PATH=/bin'],
    workingDir: '/tmp',
    exposedPorts: ['8080/tcp'],
    createdBy: 'test/images',
  });
}

export async function* chunks(data: Buffer, size = 777): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

export function gunzip(data: Buffer): Buffer {
  return gunzipSync(data);
}

export async function rejectsCode(
  promise: Promise<unknown>,
  code: string,
  pattern?: RegExp,
): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isMicroK8sError(error), String(error));
    assert.is(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return error.message;
  }
  assert.unreachable(`expected ${code}`);
  return '';
}
