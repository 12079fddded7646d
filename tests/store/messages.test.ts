import { describe, expect, it } from 'vitest';
import { DataError } from '#core/errors.ts';
import {
  MessageError,
  encodeAlertMessage,
  encodeControlMessage,
  parseAlertMessage,
  parseControlMessage,
} from '#store/messages.ts';
import type { AlertMessage, ControlMessage } from '#store/ports.ts';

const kill: ControlMessage = {
  v: 1,
  type: 'kill',
  id: 'kill-1',
  reason: 'drawdown',
  by: 'ops:alice',
  ts: 1_700_000_000_000,
};
const alert: AlertMessage = {
  v: 1,
  id: 'alert-7',
  severity: 'critical',
  source: 'reconcile',
  title: 'Position drift',
  detail: 'BTCUSDT: venue 3 lots, journal 2 lots',
  venue: 'binance-futures',
  ts: 1_700_000_000_000,
};

function errorOf(f: () => unknown): MessageError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MessageError);
    expect(e).toBeInstanceOf(DataError);
    return e as MessageError;
  }
  throw new Error('expected a MessageError');
}

describe('control messages', () => {
  it('round-trips kill, resume and reconcile through encode/parse', () => {
    const resume: ControlMessage = { ...kill, type: 'resume', id: 'resume-1' };
    const reconcile: ControlMessage = { v: 1, type: 'reconcile', id: 'rec-1', by: 'schedule', ts: 5 };
    for (const m of [kill, resume, reconcile]) {
      expect(parseControlMessage(encodeControlMessage(m))).toEqual(m);
      expect(parseControlMessage(JSON.parse(encodeControlMessage(m)))).toEqual(m);
    }
  });

  it('encodes with a stable field order', () => {
    const shuffled = {
      ts: kill.ts,
      by: kill.by,
      reason: kill.reason,
      id: kill.id,
      type: kill.type,
      v: 1,
    } as const;
    expect(encodeControlMessage(shuffled)).toBe(encodeControlMessage(kill));
  });

  it('names the bad field', () => {
    expect(errorOf(() => parseControlMessage({ ...kill, reason: 42 })).field).toBe('reason');
    expect(errorOf(() => parseControlMessage({ ...kill, reason: '  ' })).field).toBe('reason');
    expect(errorOf(() => parseControlMessage({ ...kill, ts: -1 })).field).toBe('ts');
    expect(errorOf(() => parseControlMessage({ ...kill, ts: 1.5 })).field).toBe('ts');
    expect(errorOf(() => parseControlMessage({ ...kill, type: 'flatten' })).field).toBe('type');
    expect(errorOf(() => parseControlMessage({ ...kill, id: 'has space' })).field).toBe('id');
    expect(errorOf(() => parseControlMessage({ ...kill, id: 'x'.repeat(129) })).field).toBe('id');
    const { by: _by, ...noBy } = kill;
    const missing = errorOf(() => parseControlMessage(noBy));
    expect(missing.field).toBe('by');
    expect(missing.message).toContain('"by" is missing');
    expect(errorOf(() => parseControlMessage({ ...kill, extra: true })).field).toBe('extra');
    expect(
      errorOf(() => parseControlMessage({ v: 1, type: 'reconcile', id: 'r', by: 'x', ts: 1, reason: 'no' }))
        .field,
    ).toBe('reason');
  });

  it('rejects an unknown version clearly', () => {
    const e = errorOf(() => parseControlMessage({ ...kill, v: 2 }));
    expect(e.code).toBe('UNKNOWN_MESSAGE_VERSION');
    expect(e.message).toMatch(/version 2.*only v1/);
    expect(errorOf(() => parseControlMessage({ ...kill, v: undefined })).field).toBe('v');
  });

  it('rejects non-JSON and non-objects without echoing the input', () => {
    const e = errorOf(() => parseControlMessage('{"v":1, "reason": "s3cr3t-value'));
    expect(e.code).toBe('BAD_MESSAGE_JSON');
    expect(e.message).not.toContain('s3cr3t');
    expect(errorOf(() => parseControlMessage('[1]')).field).toBe('$');
    expect(errorOf(() => parseControlMessage(null)).field).toBe('$');
  });

  it('refuses to encode an invalid message', () => {
    expect(() => encodeControlMessage({ ...kill, id: '' })).toThrow(MessageError);
  });
});

describe('alert messages', () => {
  it('round-trips with and without a venue', () => {
    expect(parseAlertMessage(encodeAlertMessage(alert))).toEqual(alert);
    const { venue: _venue, ...noVenue } = alert;
    expect(parseAlertMessage(encodeAlertMessage(noVenue))).toEqual(noVenue);
    expect('venue' in parseAlertMessage(noVenue)).toBe(false);
  });

  it('names the bad field', () => {
    expect(errorOf(() => parseAlertMessage({ ...alert, severity: 'panic' })).field).toBe('severity');
    expect(errorOf(() => parseAlertMessage({ ...alert, venue: 'nasdaq' })).field).toBe('venue');
    expect(errorOf(() => parseAlertMessage({ ...alert, detail: 'x'.repeat(8001) })).field).toBe('detail');
    expect(errorOf(() => parseAlertMessage({ ...alert, title: null })).field).toBe('title');
  });

  it('rejects an unknown version', () => {
    expect(errorOf(() => parseAlertMessage({ ...alert, v: 3 })).code).toBe('UNKNOWN_MESSAGE_VERSION');
  });
});
