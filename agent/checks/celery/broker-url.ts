// The celery check's `broker:` URL, read as Celery (kombu) reads it: amqp://user:password@host:port/vhost,
// `pyamqp://` and `librabbitmq://` as synonyms of amqp, `amqps://` for TLS; no user means guest:guest,
// no port 5672 (5671 with TLS), no vhost (or `//`, or `/%2F`) the vhost `/`. The password is kept
// apart and never shown: the URL is shown as kombu shows it, `amqp://guest:**@host:5672//`.

export interface BrokerAddress {
  tls: boolean;
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** The URL for people, password masked: what every output and error names. */
  display: string;
}

const SCHEMES: Record<string, boolean> = { amqp: false, pyamqp: false, librabbitmq: false, amqps: true };

/** Reads a broker URL; throws saying what is wrong (never with the password) when it is not one. */
export function parseBrokerUrl(text: string): BrokerAddress {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined || !(scheme in SCHEMES))
    throw new Error(
      `broker: expected an AMQP URL such as amqp://user:password@host:5672/vhost${scheme ? ` (${scheme}:// is not supported)` : ''}`,
    );
  const tls = SCHEMES[scheme]!;
  let url: URL;
  try {
    // WHATWG URL knows the ports of http and friends only: parse it as http, then read its parts.
    url = new URL(`http://${text.slice(scheme.length + 3)}`);
  } catch {
    throw new Error('broker: not a URL (expected amqp://user:password@host:5672/vhost)');
  }
  if (!url.hostname) throw new Error('broker: the URL has no host');
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : tls ? 5671 : 5672;
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new Error(`broker: the ${what} in the URL is not well %-encoded`);
    }
  };
  const explicitUser = url.username !== '' || url.password !== '';
  const username = explicitUser ? decode(url.username, 'user') : 'guest';
  const password = explicitUser ? decode(url.password, 'password') : 'guest';
  // kombu: the path after the first '/' is the vhost, empty meaning '/' ('//' is the vhost '/').
  const vhost = decode(url.pathname.slice(1), 'vhost') || '/';
  const shownVhost = vhost === '/' ? '/' : encodeURIComponent(vhost);
  const shownHost = hostname.includes(':') ? `[${hostname}]` : hostname;
  return {
    tls,
    hostname,
    port,
    username,
    password,
    vhost,
    display: `${tls ? 'amqps' : 'amqp'}://${encodeURIComponent(username)}:**@${shownHost}:${port}/${shownVhost}`,
  };
}

/** `text` with every occurrence of the password (as given and %-encoded) replaced by `**`. */
export function withoutPassword(text: string, password: string): string {
  if (password.length === 0) return text;
  let out = text;
  for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('**');
  return out;
}
