// Address rules shared by the config checks and the listeners.
import { isIP, isIPv6 } from 'node:net';

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}

/** A bind address: an IPv4 or IPv6 literal, or localhost. */
export function isBindAddress(address: string): boolean {
  return address === 'localhost' || isIP(address) !== 0;
}

/** `HOST`, `HOST:PORT` or `[v6]:PORT` (a bare IPv6 literal is a host): the port `defaultPort` when absent. */
export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let port: string | undefined;
  if (bracketed) [host, port] = [bracketed[1]!, bracketed[2]];
  else if (isIPv6(text)) host = text;
  else {
    const parts = text.split(':');
    if (parts.length > 2) return undefined;
    [host, port] = [parts[0]!, parts[1]];
  }
  const number = port === undefined ? defaultPort : Number(port);
  if (!host || !/^\d*$/.test(port ?? '') || !Number.isInteger(number) || number < 1 || number > 65_535) {
    return undefined;
  }
  return { host, port: number };
}
