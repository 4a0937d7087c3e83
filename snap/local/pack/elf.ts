/**
 * The architecture a binary was built for, from its ELF header (e_machine), named as snapd
 * names architectures; undefined for a file that is not ELF (a script, a symlink's target
 * aside). A snap for amd64 must carry no arm64 binary and the reverse.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const MACHINES: Record<number, string> = {
  62: 'amd64',
  183: 'arm64',
  40: 'armhf',
  22: 's390x',
  21: 'ppc64el',
};

export function elfArchitecture(file: string): string | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  // EI_DATA (byte 5): 1 little-endian, 2 big-endian; e_machine is the u16 at offset 18.
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  return MACHINES[machine] ?? `elf-machine-${machine}`;
}
