import { isIP } from 'node:net';

/** "host:port", with an IPv6 address in brackets ("[2001:db8::5]:2380"). */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
