// Address rules shared by the config checks and the listeners.
import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost' || address === '::1') return true;
  return isIP(address) === 4 && address.startsWith('127.');
}

/** A bind address: an IPv4 or IPv6 literal, or localhost. */
export function isBindAddress(address: string): boolean {
  return address === 'localhost' || isIP(address) !== 0;
}
