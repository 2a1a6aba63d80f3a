// The render API's time expressions (`from`, `until`, timeShift's and summarize's intervals), read
// as graphite-web's attime.py reads them, in UTC only: a reference (`now`, `midnight`, `noon`,
// `16:00`, `4pm`, `today`, `yesterday`, `tomorrow`, `YYYYMMDD`, `MM/DD/YY`, `jan5`, `monday`,
// epoch seconds) optionally followed by a signed offset (`-1h`, `+2d`, `-1h30min`), with `_`,
// `,` and spaces ignored (`16:00_20110501`, `midnight yesterday`).

const SECONDS_PER = {
  seconds: 1,
  minutes: 60,
  hours: 3600,
  days: 86400,
  weeks: 7 * 86400,
  // graphite's months and years are fixed lengths, not calendar ones.
  months: 30 * 86400,
  years: 365 * 86400,
} as const;

export type OffsetUnit = keyof typeof SECONDS_PER;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_SECONDS = 86400;

/** Longer inputs are refused: nothing legitimate comes close. */
const MAX_TIME_CHARS = 256;

/**
 * Epoch seconds for a graphite time expression, `nowSeconds` being "now". Throws an Error naming
 * the input when it is not one graphite accepts.
 */
export function parseAtTime(text: string, nowSeconds: number, tz: 'UTC' = 'UTC'): number {
  if (tz !== 'UTC') throw new Error(`unsupported time zone ${String(tz)}: only UTC is`);
  if (typeof text !== 'string' || text.length > MAX_TIME_CHARS) {
    throw new Error(`invalid time ${JSON.stringify(String(text).slice(0, 64))}`);
  }
  if (!Number.isFinite(nowSeconds)) throw new Error(`invalid now: ${nowSeconds}`);
  try {
    return parseNormalized(text.trim().toLowerCase().replace(/[_, ]/g, ''), nowSeconds);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`invalid time ${JSON.stringify(text)}: ${reason}`, { cause: error });
  }
}

function parseNormalized(s: string, nowSeconds: number): number {
  if (/^\d+$/.test(s)) {
    const looksLikeDate =
      s.length === 8 && Number(s.slice(0, 4)) > 1900 && Number(s.slice(4, 6)) < 13 && Number(s.slice(6)) < 32;
    // Eight digits that read as a date are YYYYMMDD, anything else all-digit is epoch seconds.
    if (!looksLikeDate) return Number(s);
  }
  let reference: string;
  let offset: string;
  const plus = s.indexOf('+');
  const minus = s.indexOf('-');
  if (plus >= 0) {
    reference = s.slice(0, plus);
    offset = s.slice(plus);
  } else if (minus >= 0) {
    reference = s.slice(0, minus);
    offset = s.slice(minus);
  } else {
    reference = s;
    offset = '';
  }
  return Math.floor(parseTimeReference(reference, nowSeconds) + parseTimeOffset(offset));
}

/** Epoch seconds of a reference (no offset), already lower-cased with separators removed. */
function parseTimeReference(rawReference: string, nowSeconds: number): number {
  if (!rawReference || rawReference === 'now') return nowSeconds;
  let ref = rawReference;
  let hour = 0;
  let minute = 0;

  // HH:MM, optionally followed by am/pm.
  const colon = ref.indexOf(':');
  if (colon > 0 && colon < 3) {
    hour = strictInt(ref.slice(0, colon));
    minute = strictInt(ref.slice(colon + 1, colon + 3));
    ref = ref.slice(colon + 3);
    if (ref.startsWith('am')) ref = ref.slice(2);
    else if (ref.startsWith('pm')) {
      hour = (hour + 12) % 24;
      ref = ref.slice(2);
    }
  }
  // Xam / XXam, Xpm / XXpm.
  const am = ref.indexOf('am');
  if (am > 0 && am < 3) {
    hour = strictInt(ref.slice(0, am));
    ref = ref.slice(am + 2);
  }
  const pm = ref.indexOf('pm');
  if (pm > 0 && pm < 3) {
    hour = (strictInt(ref.slice(0, pm)) + 12) % 24;
    ref = ref.slice(pm + 2);
  }
  if (ref.startsWith('noon')) {
    [hour, minute] = [12, 0];
    ref = ref.slice(4);
  } else if (ref.startsWith('midnight')) {
    [hour, minute] = [0, 0];
    ref = ref.slice(8);
  } else if (ref.startsWith('teatime')) {
    [hour, minute] = [16, 0];
    ref = ref.slice(7);
  }
  if (hour > 23 || minute > 59) throw new Error(`no such time of day ${hour}:${minute}`);

  const now = new Date(Math.floor(nowSeconds) * 1000);
  let year = now.getUTCFullYear();
  let month = now.getUTCMonth() + 1;
  let day = now.getUTCDate();
  let dayShift = 0;

  if (ref === 'yesterday' || ref === 'today' || ref === 'tomorrow') {
    dayShift = ref === 'yesterday' ? -1 : ref === 'tomorrow' ? 1 : 0;
  } else if (ref.split('/').length === 3) {
    // MM/DD/YY or MM/DD/YYYY; two-digit years below 70 are 20xx.
    const [m = '', d = '', y = ''] = ref.split('/');
    month = strictInt(m);
    day = strictInt(d);
    year = strictInt(y);
    if (year < 1900) year += 1900;
    if (year < 1970) year += 100;
  } else if (ref.length === 8 && /^\d+$/.test(ref)) {
    year = Number(ref.slice(0, 4));
    month = Number(ref.slice(4, 6));
    day = Number(ref.slice(6, 8));
  } else if (MONTHS.includes(ref.slice(0, 3))) {
    // Month name then day of month: jan5, january15.
    const twoDigits = ref.slice(-2);
    const oneDigit = ref.slice(-1);
    if (/^\d\d$/.test(twoDigits)) day = Number(twoDigits);
    else if (/^\d$/.test(oneDigit)) day = Number(oneDigit);
    else throw new Error('day of month required after month name');
    month = MONTHS.indexOf(ref.slice(0, 3)) + 1;
  } else if (WEEKDAYS.includes(ref.slice(0, 3))) {
    // The most recent such weekday, today included.
    const today = now.getUTCDay();
    let back = today - WEEKDAYS.indexOf(ref.slice(0, 3));
    if (back < 0) back += 7;
    dayShift = -back;
  } else if (ref) {
    throw new Error(`unknown day reference: ${rawReference}`);
  }
  return utcSeconds(year, month, day, hour, minute) + dayShift * DAY_SECONDS;
}

/**
 * Signed seconds of an offset such as `-1h`, `+2d`, `1h30min` or `-3mon` (no sign means +). Units
 * are matched by prefix as graphite does: s…, min…, h…, d…, w…, mon…, y… Case matters (`1H` is
 * refused, as in graphite). Throws on anything else.
 */
export function parseTimeOffset(text: string): number {
  if (!text) return 0;
  let rest = text;
  let sign = 1;
  if (!/^\d/.test(rest)) {
    if (rest[0] === '+') sign = 1;
    else if (rest[0] === '-') sign = -1;
    else throw new Error(`invalid offset: ${text}`);
    rest = rest.slice(1);
  }
  let total = 0;
  while (rest) {
    const number = /^\d*/.exec(rest)?.[0] ?? '';
    if (!number)
      throw new Error(`invalid offset: ${text} (a number is expected before ${JSON.stringify(rest)})`);
    rest = rest.slice(number.length);
    const unitText = /^[A-Za-z]*/.exec(rest)?.[0] ?? '';
    rest = rest.slice(unitText.length);
    total += sign * Number(number) * SECONDS_PER[offsetUnit(unitText)];
  }
  return total;
}

/** graphite's getUnitString: the unit a word starts with. */
export function offsetUnit(word: string): OffsetUnit {
  if (word.startsWith('s')) return 'seconds';
  if (word.startsWith('min')) return 'minutes';
  if (word.startsWith('h')) return 'hours';
  if (word.startsWith('d')) return 'days';
  if (word.startsWith('w')) return 'weeks';
  if (word.startsWith('mon')) return 'months';
  if (word.startsWith('y')) return 'years';
  throw new Error(`invalid offset unit ${JSON.stringify(word)}`);
}

function strictInt(text: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${JSON.stringify(text)} is not a number`);
  return Number(text);
}

/** Epoch seconds of a UTC calendar date and time, refusing dates that do not exist (Feb 30). */
function utcSeconds(year: number, month: number, day: number, hour: number, minute: number): number {
  const millis = Date.UTC(year, month - 1, day, hour, minute);
  const check = new Date(millis);
  if (
    !Number.isFinite(millis) ||
    year < 1 ||
    year > 9999 ||
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day
  ) {
    throw new Error(`no such date ${year}-${month}-${day}`);
  }
  return millis / 1000;
}
